/** Human-readable sizes for error messages. */

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/**
 * Binary units, three significant digits: `formatBytes(13_841_203_200)` is
 * `"12.9 GiB"`, `formatBytes(512 * 1024 ** 2)` is `"512 MiB"`.
 */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} bytes`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${Number(value.toFixed(digits))} ${UNITS[unit]}`;
}
