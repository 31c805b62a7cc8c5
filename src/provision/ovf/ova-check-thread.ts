/**
 * An upload's OVA check on a worker thread. On the main thread the check (SHA-256 of every byte,
 * tar parsing, and the collection of the batches it was fed) cost more CPU than receiving the body
 * and writing it to disk: uploads ran at a third of a bare Node server's speed (bench/RESULTS.md,
 * ova). Here the main thread only says where a batch is, in memory both threads share.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { RpcError, type Reason } from '../../core/errors.js';
import type { Inspection, InspectorInput } from '../../core/inspection.js';
import type { Inspected, OvaLimits } from './ova.js';

export type CheckRequest = { kind: 'data'; memory: SharedArrayBuffer; offset: number; length: number } | { kind: 'end' };
export type CheckReply =
  | { kind: 'recycle'; offset: number }
  | { kind: 'result'; value: Inspected }
  | { kind: 'error'; code: number; message: string; details: unknown[]; reason: Reason };

/**
 * The check's end of an upload. The worker copies each chunk for its parser (tar-stream keeps
 * slices of what it is given) and, once the parser has room, says the chunk is free ('recycle'):
 * so the feeder's few batches, and its wait for them, are all the backpressure.
 */
class CheckInput extends EventEmitter implements InspectorInput {
  destroyed = false;
  readonly recycles = true;

  constructor(private readonly worker: Worker) {
    super();
  }

  /** `chunk` must lie in shared memory, and stay as it is until it is recycled. */
  write(chunk: Buffer): boolean {
    if (!(chunk.buffer instanceof SharedArrayBuffer)) throw new TypeError('the OVA check thread reads chunks in shared memory only');
    if (this.destroyed) return false;
    this.worker.postMessage({ kind: 'data', memory: chunk.buffer, offset: chunk.byteOffset, length: chunk.length } satisfies CheckRequest);
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
      if (m.kind === 'recycle') return void input.emit('recycle', m.offset);
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
