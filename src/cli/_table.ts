/** Plain-text tables: columns padded to their widest cell, two spaces apart. */

/** A column: its header and whether numbers line up on the right. */
export interface Column {
  header: string;
  align?: "left" | "right";
}

/** Display width: code points, so a non-ASCII name does not skew the padding. */
function width(s: string): number {
  return [...s].length;
}

/** `rows` under `columns`, one line each; no trailing spaces. */
export function table(columns: Column[], rows: string[][]): string {
  const widths = columns.map((c, i) =>
    Math.max(width(c.header), ...rows.map((r) => width(r[i] ?? "")))
  );
  const line = (cells: string[]) =>
    columns.map((c, i) => {
      const cell = cells[i] ?? "";
      const pad = " ".repeat(widths[i] - width(cell));
      return c.align === "right" ? pad + cell : cell + pad;
    }).join("  ").trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join("\n");
}
