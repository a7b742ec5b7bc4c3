/** How the pages print numbers and times: the same on the server and in the scripts. */

/** A metric to 4 significant digits, or an en dash for none. */
export function fmtNumber(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  return Number(n.toPrecision(4)).toString();
}

/** An ISO time as `YYYY-MM-DD HH:MM:SS UTC`, or an en dash for none. */
export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return "–";
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}
