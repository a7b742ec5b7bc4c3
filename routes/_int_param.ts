/**
 * Integer query parameters and headers, checked as text first: digits only
 * (no sign, exponent, hex or blank, which z.coerce would take) and within
 * the range of the Postgres column they end up in.
 */
import { z } from "@hono/zod-openapi";

/** Largest Postgres `integer` (int4); seq, epoch and index columns are int4. */
export const PG_INT_MAX = 2 ** 31 - 1;

/** A query parameter that is an integer in [min, max] (max <= PG_INT_MAX). */
export function intParam(name: string, min: number, max = PG_INT_MAX) {
  const message = `${name} must be an integer from ${min} to ${max}`;
  return z.string()
    .regex(/^\d{1,10}$/, { error: message })
    .pipe(
      z.coerce.number<string>().int().min(min, { error: message }).max(max, {
        error: message,
      }),
    )
    .openapi({ type: "integer", minimum: min, maximum: max });
}

/** intParam with a default; the generator loses a pipe's default, so it is repeated. */
export function intParamOr(
  name: string,
  fallback: number,
  min: number,
  max = PG_INT_MAX,
) {
  return intParam(name, min, max).default(fallback).openapi({
    default: fallback,
  });
}

/** True when `text` is a non-negative integer within int4. */
export function isPgInt(text: string): boolean {
  return /^\d{1,10}$/.test(text) && Number(text) <= PG_INT_MAX;
}
