import { Worker } from 'node:worker_threads';

export type WriterRequest = { id: number; fd: number; offset: number; length: number; position: number };
export type WriterReply = { id: number; error?: { message: string; code?: string } };

/**
 * Blocks in memory shared with a thread that writes them to a file: the main thread fills a block
 * (from a socket, from a request body) and hands over only where it is. Writes go in the order
 * given, each resolved once it is in the file (or rejected with its errno code: ENOSPC stays
 * ENOSPC). Threads share file descriptors, so the caller keeps owning and closing its own.
 */
export class BlockWriter {
  readonly blocks: Buffer[];
  private readonly memory: SharedArrayBuffer;
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private next = 0;
  private failure: Error | null = null;

  constructor(count: number, size: number) {
    this.memory = new SharedArrayBuffer(count * size);
    this.blocks = Array.from({ length: count }, (_, i) => Buffer.from(this.memory, i * size, size));
    this.worker = new Worker(new URL('./block-writer-worker.js', import.meta.url), {
      workerData: this.memory,
      // It allocates next to nothing: a small heap keeps the thread's memory small.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
    });
    this.worker.on('message', (m: WriterReply) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error) w?.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else w?.resolve();
    });
    this.worker.on('error', (err) => this.stop(err));
    this.worker.on('exit', () => this.stop(new Error('the block writer stopped')));
  }

  /** Whether `view` lies in this writer's memory (only such views can be written). */
  owns(view: Buffer): boolean {
    return view.buffer === this.memory;
  }

  /** Writes `view` (in this writer's memory) to `fd` at `position`; the view must not change until then. */
  write(fd: number, view: Buffer, position: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.next++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, fd, offset: view.byteOffset, length: view.length, position } satisfies WriterRequest);
    });
  }

  /** Ends the thread; writes not yet done are rejected. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private stop(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
  }
}
