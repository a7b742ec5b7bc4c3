/**
 * Deep equality of JSON values, ignoring object key order: jsonb hands keys
 * back in its own order, so a stored spec never stringifies like the request.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length &&
      a.every((v, i) => sameJson(v, b[i]));
  }
  if (typeof a !== "object" || typeof b !== "object" || !a || !b) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  // undefined-valued keys vanish in JSON, so they must not count here either.
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameJson(ra[k], rb[k]));
}
