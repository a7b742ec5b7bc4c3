// The job page's two uPlot charts: training loss by step, and the
// per-epoch losses and validation accuracy. Each chart's element carries
// data-points, the number of x values uPlot holds, for whoever watches.
/* global uPlot */

const HEIGHT = 260;

function width(el) {
  return Math.max(280, el.clientWidth || 600);
}

function makePlot(el, opts, data) {
  const plot = new uPlot(
    { ...opts, width: width(el), height: HEIGHT },
    data,
    el,
  );
  new ResizeObserver(() => {
    plot.setSize({ width: width(el), height: HEIGHT });
  }).observe(el);
  return plot;
}

/** Both charts, and what feeds them. */
export function createCharts(lossEl, epochEl) {
  const steps = [[], []];
  const epochs = [[], [], [], []];
  const loss = makePlot(lossEl, {
    scales: { x: { time: false } },
    series: [
      { label: "step" },
      { label: "loss", stroke: "#2563eb", width: 1.5 },
    ],
    axes: [{ label: "global step" }, { label: "loss" }],
  }, steps);
  const perEpoch = makePlot(epochEl, {
    scales: { x: { time: false }, acc: { range: [0, 1] } },
    series: [
      { label: "epoch" },
      { label: "train loss", stroke: "#2563eb", width: 1.5 },
      { label: "val loss", stroke: "#ea580c", width: 1.5 },
      { label: "val accuracy", stroke: "#16a34a", width: 1.5, scale: "acc" },
    ],
    axes: [
      { label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100] },
      { label: "loss" },
      { scale: "acc", side: 1, label: "accuracy", grid: { show: false } },
    ],
  }, epochs);

  // Events of one network chunk arrive in one task: redraw once after it.
  let pending = false;
  function flush() {
    pending = false;
    loss.setData(steps);
    perEpoch.setData(epochs);
    lossEl.dataset.points = String(loss.data[0].length);
    epochEl.dataset.points = String(perEpoch.data[0].length);
  }
  function schedule() {
    if (pending) return;
    pending = true;
    queueMicrotask(flush);
  }

  return {
    /** A `step` event's data. */
    addStep(d) {
      const x = (d.epoch - 1) * d.steps + d.step;
      // A replayed or repeated step (a resumed attempt) must not go back.
      if (steps[0].length && x <= steps[0][steps[0].length - 1]) return;
      steps[0].push(x);
      steps[1].push(d.loss);
      schedule();
    },
    /** An `epoch` event's data. */
    addEpoch(d) {
      const at = epochs[0].indexOf(d.epoch);
      const row = [d.epoch, d.train_loss, d.val_loss, d.val_accuracy];
      if (at >= 0) row.forEach((v, i) => epochs[i][at] = v);
      else row.forEach((v, i) => epochs[i].push(v));
      schedule();
    },
  };
}
