/** SQL fragments shared by the queue statements. */
import { sql } from "drizzle-orm";

/** `now() + leaseSeconds`, bound as a parameter. */
export function leaseEnd(leaseSeconds: number) {
  return sql`now() + make_interval(secs => ${leaseSeconds}::double precision)`;
}
