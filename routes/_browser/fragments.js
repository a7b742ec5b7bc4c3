// Swaps server-rendered HTML fragments (GET /ui/...) into the page: the
// server renders, with the same components as the page itself.
import { apiFetch } from "./api_key.js";

/**
 * Replaces `el` with the fragment at `url`: `{status, element}`, `element`
 * (the new one) only when the server answered 2xx.
 */
export async function swapFragment(el, url) {
  const res = await apiFetch(url, { headers: { accept: "text/html" } });
  if (!res.ok) {
    await res.body?.cancel();
    return { status: res.status };
  }
  const template = document.createElement("template");
  template.innerHTML = await res.text();
  const fresh = template.content.firstElementChild;
  if (!fresh) return { status: res.status };
  el.replaceWith(fresh);
  return { status: res.status, element: fresh };
}
