/**
 * Webhook deliveries: queued by a trigger on job_events (migration 0007), in
 * the statement that appends the event; claimed here by any number of
 * delivering processes with FOR UPDATE SKIP LOCKED, and settled. Each step
 * is one statement, so a lost connection never leaves half of one.
 */
import { asc, eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { mapRow } from "./_rows.ts";
import { webhookDeliveries, type WebhookDeliveryRow } from "./schema.ts";

/** The webhook event names, in the order the reference lists them. */
export const WEBHOOK_EVENTS = [
  "running",
  "epoch",
  "succeeded",
  "failed",
  "cancelled",
] as const;

/** One webhook event name. */
export type WebhookEvent = typeof WEBHOOK_EVENTS[number];

/** The events a webhook gets when its creator names none: the terminal statuses. */
export const DEFAULT_WEBHOOK_EVENTS: WebhookEvent[] = [
  "succeeded",
  "failed",
  "cancelled",
];

/** A claimed delivery with where it goes and the secret that signs it. */
export interface ClaimedDelivery extends WebhookDeliveryRow {
  url: string;
  secret: string;
}

/**
 * Claims up to `limit` due deliveries, counting the attempt now and pushing
 * `next_attempt_at` past `leaseMs`: a claimer that dies mid-attempt leaves
 * the row to be tried again then, so an attempt may repeat (receivers
 * de-duplicate on webhook-id) but is never lost.
 */
export async function claimDueDeliveries(
  db: Queryable,
  limit: number,
  leaseMs: number,
): Promise<ClaimedDelivery[]> {
  const rows = await db.execute<Record<string, unknown>>(sql`
    with due as (
      select id from webhook_deliveries
      where delivered_at is null and failed_at is null
        and next_attempt_at <= now()
      order by next_attempt_at
      limit ${limit}::int
      for update skip locked
    )
    update webhook_deliveries d
    set attempts = d.attempts + 1,
      next_attempt_at = now() + ${leaseMs}::int * interval '1 millisecond'
    from due, jobs j
    where d.id = due.id and j.id = d.job_id
    returning d.*, j.webhook->>'url' as url, j.webhook_secret as secret`);
  return rows.map((raw) => ({
    ...mapRow(webhookDeliveries, raw),
    url: String(raw.url),
    secret: String(raw.secret),
  }));
}

/** How an attempt ended. */
export interface DeliveryResult {
  ok: boolean;
  statusCode?: number;
  error?: string;
  excerpt?: string;
  /** Failed: milliseconds until the next attempt, or undefined to give up. */
  retryInMs?: number;
}

/**
 * Records attempt `attempt` of delivery `id`; a no-op when another claimer
 * has since taken the row (its attempt count moved on).
 */
export async function settleDelivery(
  db: Queryable,
  id: string,
  attempt: number,
  r: DeliveryResult,
): Promise<void> {
  const giveUp = !r.ok && r.retryInMs === undefined;
  await db.execute(sql`
    update webhook_deliveries set
      status_code = ${r.statusCode ?? null}::int,
      last_error = ${r.error ?? null}::text,
      response_excerpt = ${r.excerpt ?? null}::text,
      delivered_at = case when ${r.ok}::boolean then now() end,
      failed_at = case when ${giveUp}::boolean then now() end,
      next_attempt_at = case when ${!r.ok && !giveUp}::boolean
        then now() + ${r.retryInMs ?? 0}::int * interval '1 millisecond'
        else next_attempt_at end
    where id = ${id}::uuid and attempts = ${attempt}::int
      and delivered_at is null and failed_at is null`);
}

/** The deliveries of `jobId`, oldest event first. */
export async function listWebhookDeliveries(
  db: Queryable,
  jobId: string,
): Promise<WebhookDeliveryRow[]> {
  return await db.select().from(webhookDeliveries)
    .where(eq(webhookDeliveries.jobId, jobId))
    .orderBy(asc(webhookDeliveries.eventSeq));
}
