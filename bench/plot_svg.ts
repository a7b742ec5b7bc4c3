/**
 * Line charts as SVG strings, drawn by Vega-Lite compiled to Vega and
 * rendered headless (`renderer: "none"` needs no DOM or canvas).
 */
import * as vega from "vega";
import * as vegaLite from "vega-lite";

export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

export interface LineChart {
  title: string;
  xTitle: string;
  yTitle: string;
  series: Series[];
  /** Log scale on y, e.g. for a reconstruction error spanning decades. */
  logY?: boolean;
}

/** One line (one SVG path in the line mark) per series, with points on it and a legend. */
export async function renderLinesSvg(chart: LineChart): Promise<string> {
  const values = chart.series.flatMap((s) =>
    s.points.map((p) => ({ series: s.name, x: p.x, y: p.y }))
  );
  const x = {
    field: "x",
    type: "quantitative" as const,
    title: chart.xTitle,
  };
  const y = {
    field: "y",
    type: "quantitative" as const,
    title: chart.yTitle,
    // Log scales have no zero to drop (Vega-Lite warns when asked to).
    scale: chart.logY ? { type: "log" as const } : { zero: false },
  };
  const color = {
    field: "series",
    type: "nominal" as const,
    title: "optimizer",
    // The series order, not alphabetical, so colors follow the tables.
    sort: chart.series.map((s) => s.name),
  };
  const spec: vegaLite.TopLevelSpec = {
    title: chart.title,
    width: 480,
    height: 300,
    data: { values },
    mark: { type: "line", point: true },
    encoding: { x, y, color },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), {
    renderer: "none",
  });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
