/**
 * Reference counts of blobs (the `blobs` table), and how writing and
 * collecting interleave safely. Each step is one statement (no transaction:
 * see the README's guarantees), and the decisions are made on the one
 * `blobs` row, which concurrent statements lock and re-read:
 *
 * 1. A writer pins its blob (refs + 1) before putting the content under its
 *    name, unless a collector is deleting it; then it waits and tries again.
 * 2. It commits the content, then writes the rows that name the blob in one
 *    statement that keeps the pin as the new rows' reference and releases
 *    the references of rows it replaced or dropped (or gives the pin back if
 *    its lease is gone).
 * 3. A collector marks a blob whose count is 0 as deleting, deletes the
 *    content, then the row. A pinned blob is never marked; a marked one is
 *    never pinned.
 *
 * A writer that dies between 1 and 2 leaves its pin counted: the blob then
 * stays for good, which wastes space but never loses a referenced blob.
 */
import { sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import type { BlobRef, BlobStore, StagedBlob } from "./blob_store.ts";
import { sleep } from "./wait.ts";

/**
 * A deletion marked longer ago than this was abandoned (its collector died
 * between marking and finishing); a writer may take the blob back.
 */
const ABANDONED_DELETION = "10 minutes";
/** How long a writer waits out a deletion in progress before giving up. */
const PIN_PATIENCE_MS = 60_000;
const PIN_RETRY_MS = 50;

/** Each sha with how often it occurs in `shas` (nulls dropped). */
function counted(
  shas: Iterable<string | null | undefined>,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const sha of shas) if (sha) out.set(sha, (out.get(sha) ?? 0) + 1);
  return out;
}

/** `(sha, n)` rows as a VALUES list. */
function countValues(counts: Map<string, number>) {
  return sql.join(
    [...counts].map(([sha, n]) => sql`(${sha}::text, ${n}::int)`),
    sql`, `,
  );
}

/**
 * Adds one reference per entry of `blobs` (an entry twice adds two); blobs
 * being deleted are left alone. Returns the shas pinned.
 */
async function tryPin(
  db: Queryable,
  blobs: BlobRef[],
): Promise<Set<string>> {
  const counts = counted(blobs.map((b) => b.sha256));
  const size = new Map(blobs.map((b) => [b.sha256, b.size]));
  const values = sql.join(
    [...counts].map(([sha, n]) =>
      sql`(${sha}::text, ${size.get(sha)}::bigint, ${n}::int)`
    ),
    sql`, `,
  );
  // ON CONFLICT re-reads the locked row: a concurrent mark is seen.
  const rows = await db.execute<{ sha256: string }>(sql`
    insert into blobs (sha256, size, refs)
    select sha256, size, n from (values ${values}) as wanted(sha256, size, n)
    on conflict (sha256) do update
      set refs = blobs.refs + excluded.refs, deleting_since = null
      where blobs.deleting_since is null
        or blobs.deleting_since < now() - interval '${
    sql.raw(ABANDONED_DELETION)
  }'
    returning sha256`);
  return new Set(rows.map((r) => r.sha256));
}

/**
 * Pins `blobs` before their content is committed, waiting out deletions in
 * progress.
 * @throws {Error} when a deletion lasts past the writer's patience.
 */
export async function pinBlobs(db: Queryable, blobs: BlobRef[]): Promise<void> {
  const deadline = Date.now() + PIN_PATIENCE_MS;
  for (;;) {
    const pinned = await tryPin(db, blobs);
    const missing = blobs.filter((b) => !pinned.has(b.sha256));
    if (missing.length === 0) return;
    // All or none: give back what was pinned, and wait for the collector.
    await releaseRefs(
      db,
      blobs.map((b) => b.sha256).filter((s) => pinned.has(s)),
    );
    if (Date.now() > deadline) {
      throw new Error(
        `blob ${missing[0].sha256} stayed marked for deletion for ${
          PIN_PATIENCE_MS / 1000
        } s`,
      );
    }
    await sleep(PIN_RETRY_MS);
  }
}

/**
 * Drops one reference per entry of `shas`; returns the blobs no reference
 * holds any more (for {@link collectBlobs}).
 */
export async function releaseRefs(
  db: Queryable,
  shas: Iterable<string | null | undefined>,
): Promise<string[]> {
  const counts = counted(shas);
  if (counts.size === 0) return [];
  const rows = await db.execute<{ sha256: string; refs: number }>(sql`
    update blobs set refs = blobs.refs - dropped.n
    from (values ${countValues(counts)}) as dropped(sha256, n)
    where blobs.sha256 = dropped.sha256
    returning blobs.sha256, blobs.refs`);
  return rows.filter((r) => r.refs === 0).map((r) => r.sha256);
}

/**
 * SQL for the `dropped` CTE of a referencing statement: given a CTE
 * `released(sha256)` of references given up (one row per reference), drops
 * them; {@link referenceOutcomeSql} then selects what is left with none.
 */
export function releasedRefsSql() {
  return sql`dropped as (
      update blobs set refs = blobs.refs - r.n
      from (select sha256, count(*)::int as n from released
        where sha256 is not null group by sha256) as r
      where blobs.sha256 = r.sha256
      returning blobs.sha256, blobs.refs
    )`;
}

/**
 * The final select of a referencing statement with CTEs `saved` and
 * `dropped`: whether its row was written, and the blobs left with no
 * reference, comma-joined (read it with {@link referenceOutcome}).
 */
export function referenceOutcomeSql() {
  return sql`select exists (select 1 from saved) as saved,
    (select string_agg(sha256, ',') from dropped where refs = 0)
      as collectable`;
}

/** The row {@link referenceOutcomeSql} selects. */
export type ReferenceOutcomeRow = {
  saved: boolean;
  collectable: string | null;
};

/** {@link commitBlobs}' view of a {@link ReferenceOutcomeRow}. */
export function referenceOutcome(
  row: ReferenceOutcomeRow,
): { saved: boolean; collectable: string[] } {
  return { saved: row.saved, collectable: row.collectable?.split(",") ?? [] };
}

/** Current reference count of `sha256` (0 when it has no row). */
export async function blobRefs(db: Queryable, sha256: string): Promise<number> {
  const [row] = await db.execute<{ refs: number }>(sql`
    select refs from blobs where sha256 = ${sha256}`);
  return row?.refs ?? 0;
}

/**
 * Deletes each of `shas` that no reference holds; returns those deleted. A
 * blob pinned meanwhile is left alone.
 */
export async function collectBlobs(
  db: Queryable,
  store: BlobStore,
  shas: Iterable<string | null | undefined>,
): Promise<string[]> {
  const deleted: string[] = [];
  for (const sha of counted(shas).keys()) {
    // Re-checked on the locked row: a concurrent pin wins or waits.
    const [marked] = await db.execute<{ sha256: string }>(sql`
      update blobs set deleting_since = now()
      where sha256 = ${sha} and refs = 0 and deleting_since is null
      returning sha256`);
    if (!marked) continue;
    try {
      await store.delete(sha);
    } catch (err) {
      // Still there: let writers have it again.
      await db.execute(sql`
        update blobs set deleting_since = null where sha256 = ${sha}`);
      throw err;
    }
    await db.execute(sql`
      delete from blobs where sha256 = ${sha} and refs = 0
        and deleting_since is not null`);
    deleted.push(sha);
  }
  return deleted;
}

/**
 * Collects every blob nothing references: those a crash or a failed delete
 * left at 0, and deletions abandoned half-way. Safe at any time (a writer
 * pins before it commits); workers run it when they start.
 */
export async function sweepBlobs(
  db: Queryable,
  store: BlobStore,
): Promise<string[]> {
  const rows = await db.execute<{ sha256: string }>(sql`
    update blobs set deleting_since = null
    where refs = 0 and (deleting_since is null
      or deleting_since < now() - interval '${sql.raw(ABANDONED_DELETION)}')
    returning sha256`);
  return await collectBlobs(db, store, rows.map((r) => r.sha256));
}

/**
 * Pins and commits `staged` for the statement `reference`, which writes the
 * rows naming them and releases what they replace; then collects what it
 * released. `reference` returns `saved` (false: nothing written, e.g. a
 * lost lease, and it must then have given the pins back) and the shas its
 * statement left without references. Staged copies are dropped either way.
 */
export async function commitBlobs(
  db: Queryable,
  store: BlobStore,
  staged: StagedBlob[],
  reference: () => Promise<{ saved: boolean; collectable: string[] }>,
): Promise<boolean> {
  try {
    await pinBlobs(db, staged);
    try {
      for (const blob of staged) await blob.commit();
    } catch (err) {
      await collectBlobs(
        db,
        store,
        await releaseRefs(db, staged.map((s) => s.sha256)),
      ).catch(() => {});
      throw err;
    }
    // If this statement fails without an answer it may have committed; its
    // pins then stay counted rather than risk dropping a live reference.
    const { saved, collectable } = await reference();
    // The rows are written: a failed collection only leaves blobs that a
    // later sweep (sweepBlobs) deletes.
    await collectBlobs(db, store, collectable).catch(() => {});
    return saved;
  } finally {
    await Promise.all(staged.map((s) => s.discard()));
  }
}
