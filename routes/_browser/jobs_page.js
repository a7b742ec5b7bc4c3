// GET /: keeps the jobs list fresh by swapping in GET /ui/jobs, with the
// page's own filters, every few seconds while the tab is visible.
import { keyReady } from "./api_key.js";
import { swapFragment } from "./fragments.js";

const REFRESH_MS = 2000;

async function refresh() {
  const list = document.getElementById("jobs-list");
  if (!document.hidden && list) {
    try {
      const { status } = await swapFragment(list, `/ui/jobs${location.search}`);
      if (status === 401) return; // asked for a key; it reloads the page
    } catch {
      // The server is restarting or unreachable: try again next round.
    }
  }
  setTimeout(refresh, REFRESH_MS);
}

await keyReady();
refresh();
