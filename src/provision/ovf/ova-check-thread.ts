/**
 * An upload's OVA check on a worker thread. On the main thread the check (SHA-256 of every byte,
 * tar parsing, and the collection of the batches it was fed) cost more CPU than receiving the body
 * and writing it to disk: uploads ran at a third of a bare Node server's speed (bench/RESULTS.md,
 * ova). Here the main thread only hands batches over: moved, not copied, and moved back.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { RpcError, type Reason } from '../../core/errors.js';
import type { Inspection, InspectorInput } from '../../classes/uploads.js';
import type { Inspected, OvaLimits } from './ova.js';

export type CheckRequest = { kind: 'data'; buffer: ArrayBuffer; offset: number; length: number } | { kind: 'end' };
export type CheckReply =
  | { kind: 'recycle'; buffer: ArrayBuffer }
  | { kind: 'result'; value: Inspected }
  | { kind: 'error'; code: number; message: string; details: unknown[]; reason: Reason };

/** Smaller chunks are copied: they may share an ArrayBuffer (Node's pool) with other buffers. */
const TRANSFER_FROM = 64 * 1024;

/**
 * The check's end of an upload. Chunks are moved to the worker, which copies each for its parser
 * (tar-stream keeps slices of what it is given) and moves it straight back ('recycle'), once the
 * parser has room: so the feeder's few batches, and its wait for them, are all the backpressure.
 */
class CheckInput extends EventEmitter implements InspectorInput {
  destroyed = false;
  readonly recycles = true;

  constructor(private readonly worker: Worker) {
    super();
  }

  /** Takes `chunk` over: a large one's memory is moved to the worker, and comes back by 'recycle'. */
  write(chunk: Buffer): boolean {
    if (this.destroyed) return false;
    const own = chunk.length >= TRANSFER_FROM && chunk.buffer instanceof ArrayBuffer;
    const message: CheckRequest = { kind: 'data', buffer: own ? chunk.buffer : new Uint8Array(chunk).buffer, offset: own ? chunk.byteOffset : 0, length: chunk.length };
    this.worker.postMessage(message, own ? [chunk.buffer] : []);
    return true;
  }

  end(): void {
    if (!this.destroyed) this.worker.postMessage({ kind: 'end' } satisfies CheckRequest);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    void this.worker.terminate();
    this.emit('close');
  }
}

/** The same check as ovaInspector (ova.ts), off the main thread; the worker is gone once the result is in. */
export function ovaCheckThread(limits: OvaLimits): Inspection<Inspected> {
  const worker = new Worker(new URL('./ova-check-worker.js', import.meta.url), {
    workerData: limits,
    // Its garbage is tar-stream's small objects: a small young generation keeps the thread's memory small.
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  const input = new CheckInput(worker);
  const result = new Promise<Inspected>((resolve, reject) => {
    worker.on('message', (m: CheckReply) => {
      if (m.kind === 'recycle') return void input.emit('recycle', m.buffer);
      input.destroy();
      if (m.kind === 'result') resolve(m.value);
      else reject(new RpcError(m.code, m.message, m.details, m.reason));
    });
    worker.on('error', (err) => {
      input.destroy();
      reject(new RpcError(500, `OVA check failed: ${err.message}`));
    });
    worker.on('exit', () => {
      input.destroy();
      reject(new RpcError(500, 'OVA check stopped before its end'));
    });
  });
  return { input, result };
}
