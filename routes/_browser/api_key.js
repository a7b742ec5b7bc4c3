// The API key of a page whose server has API_KEYS: asked for once per tab,
// kept in sessionStorage (gone with the tab), sent as a bearer token.
const STORAGE_KEY = "fngd.apiKey";

/** Whether this server wants a key (the page says so in body[data-auth]). */
export const keyRequired = document.body.dataset.auth === "required";

const form = document.getElementById("key-form");
const forget = document.getElementById("forget-key");
let waiting = [];

if (keyRequired) {
  forget.hidden = !sessionStorage.getItem(STORAGE_KEY);
  forget.addEventListener("click", () => {
    sessionStorage.removeItem(STORAGE_KEY);
    location.reload();
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const key = form.elements.key.value.trim();
    if (!key) return;
    sessionStorage.setItem(STORAGE_KEY, key);
    form.hidden = true;
    forget.hidden = false;
    if (waiting.length === 0) {
      // The key was asked for again after a 401: start over with it.
      location.reload();
      return;
    }
    for (const resolve of waiting) resolve();
    waiting = [];
  });
}

/** The Authorization header to send, if any. */
export function authHeaders() {
  const key = keyRequired ? sessionStorage.getItem(STORAGE_KEY) : null;
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** Resolves once requests can be made: at once, or when a key is entered. */
export function keyReady() {
  if (!keyRequired || sessionStorage.getItem(STORAGE_KEY)) {
    return Promise.resolve();
  }
  form.hidden = false;
  form.elements.key.focus();
  return new Promise((resolve) => waiting.push(resolve));
}

/** Forgets a key the server refused and asks for another. */
export function rejectKey() {
  sessionStorage.removeItem(STORAGE_KEY);
  document.getElementById("key-message").textContent =
    "The server refused that API key. Enter another.";
  forget.hidden = true;
  form.hidden = false;
}

/** fetch() with the key; a 401 asks for another key. */
export async function apiFetch(path, init = {}) {
  const res = await fetch(path, {
    ...init,
    headers: { ...authHeaders(), ...(init.headers ?? {}) },
  });
  if (res.status === 401 && keyRequired) rejectKey();
  return res;
}
