// GET /jobs/{id}: follows the job's event stream and keeps the page live:
// status, charts, epochs with their phase, coefficients, staleness probes;
// cancel and model download through the API, with the key when there is one.
import {
  apiFetch,
  authHeaders,
  keyReady,
  keyRequired,
  rejectKey,
} from "./api_key.js";
import { swapFragment } from "./fragments.js";
import { EventStreamReader } from "./sse_reader.js";
import { createCharts } from "./job_charts.js";
import { showCoefficients, showEpoch, showStaleness } from "./job_tables.js";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const root = document.getElementById("job");
const id = root.dataset.jobId;
const api = `/v1/jobs/${encodeURIComponent(id)}`;
const liveStatus = document.getElementById("live-status");
const notice = document.getElementById("job-notice");
const cancelButton = document.getElementById("cancel-job");
const downloads = [
  document.getElementById("download-model"),
  document.getElementById("download-weights"),
];

function say(text) {
  notice.textContent = text;
  notice.hidden = !text;
}

/** What a problem+json answer says, for a notice. */
async function problemText(res) {
  try {
    const body = await res.json();
    return body.detail ?? `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

function setStatus(status) {
  liveStatus.textContent = status;
  liveStatus.dataset.status = status;
  liveStatus.className = `status status-${status}`;
  cancelButton.disabled = TERMINAL.has(status) || status === "cancelling";
  for (const a of downloads) {
    a.setAttribute("aria-disabled", String(status !== "succeeded"));
  }
}

const stream = new EventStreamReader(`${api}/events/stream`, authHeaders);

let missing = false;
function gone() {
  missing = true;
  say(`There is no job ${id} for this API key.`);
  stream.close();
  cancelButton.disabled = true;
}

// One swap at a time, so that an older answer never replaces a newer one;
// and one waiting at most, since it will read the latest state anyway (a
// replay of a long job's log brings many epochs at once).
let summaryChain = Promise.resolve();
let summaryWaiting = false;
function refreshSummary() {
  if (summaryWaiting) return summaryChain;
  summaryWaiting = true;
  summaryChain = summaryChain.then(async () => {
    summaryWaiting = false;
    const el = document.getElementById("job-summary");
    const { status } = await swapFragment(
      el,
      `/ui/jobs/${encodeURIComponent(id)}`,
    );
    if (status === 404) gone();
  }).catch(() => {});
  return summaryChain;
}

async function refreshCoefficients() {
  const res = await apiFetch(`${api}/coefficients`);
  if (!res.ok) {
    await res.body?.cancel();
    return;
  }
  showCoefficients(document.getElementById("coefficients"), await res.json());
}

cancelButton.addEventListener("click", async () => {
  cancelButton.disabled = true;
  const res = await apiFetch(`${api}/cancel`, { method: "POST" });
  if (!res.ok) {
    say(`Cancelling failed: ${await problemText(res)}`);
    cancelButton.disabled = false;
    return;
  }
  setStatus((await res.json()).status);
  refreshSummary();
});

// A plain link cannot send the key: with one, download through fetch.
for (const a of downloads) {
  a.addEventListener("click", async (e) => {
    if (a.getAttribute("aria-disabled") === "true") {
      e.preventDefault();
      return;
    }
    if (!keyRequired) return;
    e.preventDefault();
    const res = await apiFetch(a.href);
    if (!res.ok) {
      say(`Download failed: ${await problemText(res)}`);
      return;
    }
    const url = URL.createObjectURL(await res.blob());
    const save = document.createElement("a");
    save.href = url;
    save.download = a.getAttribute("download");
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });
}

const charts = createCharts(
  document.getElementById("loss-chart"),
  document.getElementById("epoch-chart"),
);
const epochRows = document.getElementById("epoch-rows");
const staleness = document.getElementById("staleness");
const data = (e) => JSON.parse(e.data).data;

stream.addEventListener("step", (e) => charts.addStep(data(e)));
stream.addEventListener("epoch", (e) => {
  const d = data(e);
  charts.addEpoch(d);
  showEpoch(epochRows, d);
  refreshSummary();
});
stream.addEventListener("coefficients", () => refreshCoefficients());
stream.addEventListener("staleness", (e) => showStaleness(staleness, data(e)));
stream.addEventListener("job_error", (e) => {
  const d = data(e);
  say(`The job failed: ${d.code}: ${d.message}`);
});
stream.addEventListener("status", (e) => {
  const d = data(e);
  setStatus(d.status);
  refreshSummary();
  if (TERMINAL.has(d.status)) {
    // Nothing follows a terminal status: no need to wait for the close.
    stream.close();
    refreshCoefficients();
  }
});
stream.addEventListener("http_error", (e) => {
  const { status } = e.detail;
  if (status === 404) gone();
  else if (status === 401) rejectKey();
  else say(`The event stream answered HTTP ${status}; retrying.`);
});
stream.addEventListener("open", () => {
  if (notice.textContent.startsWith("The event stream")) say("");
});

await keyReady();
if (keyRequired) await refreshSummary();
const initial = document.getElementById("job-summary").dataset.status;
if (initial) setStatus(initial);
if (!missing) {
  refreshCoefficients();
  stream.run();
}
