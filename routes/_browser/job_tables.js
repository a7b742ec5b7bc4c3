// The job page's tables, built with textContent only: event data is shown,
// never parsed as HTML.

function fmt(n) {
  return typeof n === "number" && Number.isFinite(n)
    ? String(Number(n.toPrecision(4)))
    : "–";
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function table(headers, rows) {
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const h of headers) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const v of r) cell(tr, typeof v === "number" ? fmt(v) : String(v));
  }
  return t;
}

function message(text) {
  const p = document.createElement("p");
  p.className = "muted";
  p.textContent = text;
  return p;
}

/** Adds (or replaces, after a retried attempt) an epoch's row. */
export function showEpoch(tbody, d) {
  let row = tbody.querySelector(`tr[data-epoch="${Number(d.epoch)}"]`);
  if (row) row.replaceChildren();
  else {
    row = tbody.insertRow();
    row.dataset.epoch = String(d.epoch);
  }
  row.dataset.phase = d.phase;
  cell(row, String(d.epoch));
  const phase = cell(row, "");
  const badge = document.createElement("span");
  badge.className = `phase phase-${d.phase}`;
  badge.textContent = d.phase;
  phase.append(badge);
  cell(row, String(d.steps));
  cell(row, fmt(d.seconds));
  cell(row, fmt(d.train_loss));
  cell(row, fmt(d.val_loss));
  cell(row, fmt(d.val_accuracy));
  cell(row, fmt(d.lr));
}

/** The coefficient summary of GET /v1/jobs/{id}/coefficients. */
export function showCoefficients(el, body) {
  if (body.kind !== "summary" || body.layers.length === 0) {
    el.replaceChildren(
      message(
        "None: FNGD caches coefficients in its first epoch; other optimizers cache none.",
      ),
    );
    return;
  }
  const layers = table(
    ["layer", "batches", "mean", "min", "max", "damping"],
    body.layers.map((
      l,
    ) => [l.layer, l.batches, l.mean, l.min, l.max, l.damping]),
  );
  layers.id = "coefficient-layers";
  const history = body.history.map((h) =>
    `epoch ${h.epoch}: ${h.solved} solved`
  ).join("; ");
  el.replaceChildren(layers, message(`Solved entries by epoch: ${history}.`));
}

/** One `staleness` event: the probes of an inverse-free epoch, per layer. */
export function showStaleness(el, d) {
  if (!el.querySelector("table")) {
    el.replaceChildren(
      table(
        ["epoch", "layer", "probes", "cosine mean", "cosine min", "refreshes"],
        [],
      ),
    );
  }
  const body = el.querySelector("tbody");
  for (const l of d.layers) {
    const row = body.insertRow();
    for (
      const v of [
        d.epoch,
        l.layer,
        l.probes,
        l.cosine_mean,
        l.cosine_min,
        l.refreshes,
      ]
    ) cell(row, fmt(v));
  }
}
