import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { BlockWriter } from './block-writer.js';

export interface FileSinkOptions {
  /** open(2) flags as fs takes them, e.g. 'wx'. */
  flags: string;
  mode: number;
  /** Bytes buffered before the writer pushes back, besides those being written. */
  highWaterMark?: number;
  /** Writes at once, each at its own offset. */
  inFlight?: number;
}

/**
 * A file written from a stream with more than one write in flight. fs.WriteStream writes one batch
 * at a time and takes the next only once it is on disk, so a download alternates between reading
 * the socket and waiting on the disk. Here a batch's write is acknowledged as soon as another write
 * may start, the chunks that come meanwhile form the next batch, and `final` waits for all of them.
 * A failed write destroys the stream with its error (ENOSPC stays ENOSPC); 'close' comes once no
 * write is in flight and the file is closed.
 */
export class FileSink extends Writable {
  private fh: FileHandle | null = null;
  private opening: Promise<FileHandle> | null = null;
  /** The last block write through the thread pool: the next starts after it. */
  private blockTail: Promise<unknown> = Promise.resolve();
  /** Where `blocks` live, and the thread that writes them. */
  private writer: BlockWriter | null = null;
  private position = 0;
  private readonly writes = new Set<Promise<void>>();
  private readonly limit: number;
  /** The callback of the batch that waits for a write to finish before it is acknowledged. */
  private blocked: ((err?: Error | null) => void) | null = null;

  constructor(
    private readonly file: string,
    private readonly opts: FileSinkOptions,
  ) {
    super({ highWaterMark: opts.highWaterMark ?? 1024 * 1024 });
    this.limit = opts.inFlight ?? 2;
  }

  override _construct(callback: (err?: Error | null) => void): void {
    this.opening = open(this.file, this.opts.flags, this.opts.mode);
    this.opening.then((fh) => {
      this.fh = fh;
      callback();
    }, callback);
  }

  /**
   * `count` blocks of `size` bytes for a reader to fill and hand to writeBlock, which then writes
   * them from a thread of their own (block-writer.ts). The same blocks on every call.
   */
  blocks(count: number, size: number): Buffer[] {
    this.writer ??= new BlockWriter(count, size);
    return this.writer.blocks;
  }

  /**
   * Writes `block` next, beside the stream's writes, for a reader that reuses its buffers: the
   * promise settles once the block is written (or failed: the sink is then destroyed with the error).
   * A view into `blocks` goes to their writer thread; any other buffer through the thread pool.
   */
  writeBlock(block: Buffer): Promise<void> {
    const at = this.position;
    this.position += block.length;
    const opened = this.opening ?? Promise.reject(new Error('the file is not open'));
    const writer = this.writer?.owns(block) ? this.writer : null;
    // One after another, as a WriteStream writes (the writer thread takes its blocks in turn too):
    // writes to one file serialize on its inode lock anyway.
    const write = writer ? opened.then((fh) => writer.write(fh.fd, block, at)) : this.blockTail.then(() => opened).then((fh) => writeAll(fh, [block], at));
    if (!writer) this.blockTail = write.catch(() => {});
    const tracked = write.then(
      () => void this.writes.delete(tracked),
      (err: Error) => {
        this.writes.delete(tracked);
        this.destroy(err);
      },
    );
    this.writes.add(tracked);
    return write;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.start([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.start(chunks.map((c) => c.chunk), callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    Promise.all(this.writes).then(() => this.writer?.close()).then(() => callback(), callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    // Never close the descriptor under a write still in flight: the number could be reused meanwhile.
    void Promise.allSettled(this.writes)
      .then(() => this.writer?.close())
      .then(() => this.fh?.close())
      .then(
        () => callback(err),
        (closeErr: Error) => callback(err ?? closeErr),
      );
  }

  private start(buffers: Buffer[], callback: (err?: Error | null) => void): void {
    const at = this.position;
    for (const b of buffers) this.position += b.length;
    const write = writeAll(this.fh!, buffers, at).then(
      () => {
        this.writes.delete(write);
        this.release();
      },
      (err: Error) => {
        this.writes.delete(write);
        this.release(err);
        this.destroy(err);
      },
    );
    this.writes.add(write);
    if (this.writes.size < this.limit) callback();
    else this.blocked = callback;
  }

  private release(err?: Error): void {
    const blocked = this.blocked;
    this.blocked = null;
    blocked?.(err);
  }
}

/** writev until every byte is written: a regular file may take fewer at once (near a quota, on a signal). */
async function writeAll(fh: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let left = buffers;
  let at = position;
  for (;;) {
    const { bytesWritten } = await fh.writev(left, at);
    at += bytesWritten;
    let skip = bytesWritten;
    while (left.length && skip >= left[0].length) {
      skip -= left[0].length;
      left = left.slice(1);
    }
    if (left.length === 0) return;
    if (bytesWritten === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    if (skip > 0) left = [left[0].subarray(skip), ...left.slice(1)];
  }
}
