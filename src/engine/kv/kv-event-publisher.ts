/**
 * Publishes KV-cache events the way vLLM's `ZmqEventPublisher` does (`vllm/distributed/kv_events.py`):
 * a ZMQ PUB socket, one three-frame message per batch — topic, sequence number (8 bytes, big-endian),
 * msgpack payload. The payload is msgspec's array-like encoding of `KVEventBatch`:
 *
 *   [ts, [event, …], data_parallel_rank]
 *   event = ["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium, lora_name(, extra_keys)]
 *         | ["BlockRemoved", block_hashes, medium]
 *         | ["AllBlocksCleared"]
 *
 * (msgspec's `omit_defaults` drops trailing fields left at their default, so `extra_keys` appears only
 * for blocks with images.) llm-d's kv-cache indexer and Dynamo decode this format. No replay socket.
 * @module
 */
import { Encoder } from "@msgpack/msgpack";
import { DEFAULT_BLOCK_SIZE, type KvEvent } from "./block-tracker.js";

/** vLLM's `--kv-events-config`, the fields herd uses. */
export interface KvEventsConfig {
  /** `tcp://*:5557` binds; an address without a wildcard connects (vLLM's rule). */
  endpoint: string;
  topic: string;
}

const MEDIUM_GPU = "GPU";

/** One event as msgspec encodes it (array-like, tagged). */
export function encodeEventFields(e: KvEvent, blockSize: number): unknown[] {
  switch (e.type) {
    case "BlockStored": {
      const fields: unknown[] = [e.type, e.blockHashes, e.parentBlockHash, e.tokenIds, blockSize, null, MEDIUM_GPU, null];
      if (e.extraKeys) fields.push(e.extraKeys);
      return fields;
    }
    case "BlockRemoved":
      return [e.type, e.blockHashes, MEDIUM_GPU];
    case "AllBlocksCleared":
      return [e.type];
    default:
      return e satisfies never;
  }
}

const encoder = new Encoder({ useBigInt64: true });

/** The msgpack payload of one batch. */
export function encodeEventBatch(events: readonly KvEvent[], blockSize: number, tsSeconds: number): Uint8Array {
  // A float field: keep it a float on the wire even on a whole second.
  const ts = Number.isInteger(tsSeconds) ? tsSeconds + 1e-6 : tsSeconds;
  return encoder.encode([ts, events.map((e) => encodeEventFields(e, blockSize)), 0]);
}

/** Whether vLLM would bind (rather than connect) this endpoint. */
export function isBindEndpoint(endpoint: string): boolean {
  return endpoint.includes("*") || endpoint.includes("::") || endpoint.startsWith("ipc://") || endpoint.startsWith("inproc://");
}

export class KvEventPublisher {
  #seq = 0n;
  #chain: Promise<void> = Promise.resolve();
  readonly #topic: Buffer;

  private constructor(
    // zeromq is loaded only when events are on (a native addon the engine otherwise never needs).
    readonly socket: import("zeromq").Publisher,
    topic: string,
    readonly blockSize: number,
    readonly onError: (err: Error) => void,
  ) {
    this.#topic = Buffer.from(topic, "utf8");
  }

  static async create(config: KvEventsConfig, blockSize: number, onError: (err: Error) => void): Promise<KvEventPublisher> {
    const zmq = await import("zeromq");
    const socket = new zmq.Publisher({ sendHighWaterMark: 100_000, linger: 0 });
    if (isBindEndpoint(config.endpoint)) await bindWithRetry(socket, config.endpoint);
    else socket.connect(config.endpoint);
    return new KvEventPublisher(socket, config.topic, blockSize, onError);
  }

  /** Queues one batch; sends keep their order. */
  publish(events: readonly KvEvent[]): void {
    if (events.length === 0) return;
    const seq = Buffer.alloc(8);
    seq.writeBigUInt64BE(this.#seq++);
    const payload = encodeEventBatch(events, this.blockSize, (performance.timeOrigin + performance.now()) / 1000);
    const sent = this.#chain.then(() => this.socket.send([this.#topic, seq, payload]));
    sent.catch((err: unknown) => this.onError(err instanceof Error ? err : new Error(String(err))));
    this.#chain = sent.catch(() => {});
  }

  /** Waits for queued sends, then closes the socket. */
  async close(): Promise<void> {
    await this.#chain;
    // Unbinding is asynchronous in ZMQ: wait for it, so a successor (an engine restart) can bind the port at once.
    const bound = this.socket.lastEndpoint;
    if (bound?.startsWith("tcp://")) await this.socket.unbind(bound).catch(() => {});
    this.socket.close();
  }
}

/** Binds, retrying for a while when the port is still held (a crashed engine's socket going away). */
async function bindWithRetry(socket: import("zeromq").Publisher, endpoint: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await socket.bind(endpoint);
      return;
    } catch (err) {
      if (attempt >= 20 || (err as { code?: string }).code !== "EADDRINUSE") throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The publisher `config.kvEvents` asks for, or null when events are off. */
export async function createKvEventPublisher(
  config: { kvEvents?: KvEventsConfig | undefined; blockSize?: number | undefined },
  onError: (err: Error) => void,
): Promise<KvEventPublisher | null> {
  if (!config.kvEvents) return null;
  return KvEventPublisher.create(config.kvEvents, config.blockSize ?? DEFAULT_BLOCK_SIZE, onError);
}
