/**
 * The training run's side of its shard workers: starts them, sends each a
 * step or a direction request, and hands back their answers in order. A
 * worker that fails or dies fails every request waiting on it, so a step
 * never hangs on a lost shard.
 */
import type {
  FromShard,
  HostCapture,
  HostSiteGrad,
  ShardWeights,
  ToShard,
} from "./shard_messages.ts";

type Init = Omit<Extract<ToShard, { type: "init" }>, "type">;
type Step = Omit<Extract<ToShard, { type: "step" }>, "type">;
export type Stepped = Extract<FromShard, { type: "stepped" }>;

interface Waiter {
  resolve: (m: FromShard) => void;
  reject: (e: Error) => void;
}

class Shard {
  readonly #worker: Worker;
  readonly #waiting: Waiter[] = [];
  #failure?: Error;

  constructor() {
    this.#worker = new Worker(new URL("./shard_worker.ts", import.meta.url), {
      type: "module",
    });
    this.#worker.onmessage = (e: MessageEvent<FromShard>) => {
      const w = this.#waiting.shift();
      if (!w) return;
      if (e.data.type === "failed") {
        w.reject(shardError(e.data.message));
      } else w.resolve(e.data);
    };
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#fail(shardError(e.message));
    };
  }

  #fail(err: Error): void {
    this.#failure = err;
    for (const w of this.#waiting.splice(0)) w.reject(err);
  }

  request(message: ToShard): Promise<FromShard> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#worker.postMessage(message);
    });
  }

  /** Terminates every shard; safe to call twice. */
  close(): void {
    this.#fail(shardError("the shard was closed"));
    this.#worker.terminate();
  }
}

/** A plain Error: a lost shard is an internal failure, not the job's fault. */
function shardError(message: string): Error {
  return new Error(`data-parallel shard failed: ${message}`);
}

/** Shard workers of one training run. */
export class ShardPool {
  /** Shard workers started and not yet closed, across pools (for tests and leaks). */
  static live = 0;

  private constructor(readonly shards: Shard[]) {
    ShardPool.live += shards.length;
  }

  /** Starts `count` workers, each with its replica of the model and data. */
  static async start(count: number, init: Init): Promise<ShardPool> {
    const shards = Array.from({ length: count }, () => new Shard());
    const pool = new ShardPool(shards);
    try {
      await Promise.all(
        shards.map((s) => s.request({ type: "init", ...init })),
      );
    } catch (err) {
      pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.shards.length;
  }

  /** Shard `i` steps on its rows; resolves with its loss and what was asked. */
  async step(i: number, step: Step): Promise<Stepped> {
    return await this.shards[i].request({ type: "step", ...step }) as Stepped;
  }

  /** Shard `i`'s part of the direction weighted by `weights`, from its last step. */
  async direction(i: number, weights: ShardWeights): Promise<HostSiteGrad[]> {
    const answer = await this.shards[i].request({
      type: "direction",
      weights_of_samples: weights,
    });
    return (answer as Extract<FromShard, { type: "direction" }>).direction;
  }

  /**
   * Shard `i`'s lower strips of each listed site's Gram, from the whole
   * batch's captures: site-major, then strip by strip.
   */
  async gramStrips(
    i: number,
    sites: number[],
    captures: HostCapture[],
    strips: [number, number][],
  ): Promise<Float32Array[]> {
    const answer = await this.shards[i].request({
      type: "gram_strips",
      sites,
      captures,
      strips,
    });
    return (answer as Extract<FromShard, { type: "gram_strips" }>).blocks;
  }

  /** Terminates every shard; safe to call twice. */
  close(): void {
    for (const s of this.shards.splice(0)) {
      s.close();
      ShardPool.live -= 1;
    }
  }
}
