import { collectYoung } from '../core/collect-young.js';
import { drained } from '../core/drained.js';
import { RpcError } from '../core/errors.js';
import type { InspectorInput } from '../core/inspection.js';
import { FileSink } from '../store/file-sink.js';

/**
 * What is written, and shown to the inspector, at a time: one write per MiB instead of one per
 * 64 KiB socket chunk, and the OVA parser's per-write cost made 64 KiB chunks parse at 660 MiB/s,
 * 1 MiB at 1,060 (bench/RESULTS.md, ova).
 */
const BATCH = 1024 * 1024;
/** Batches: being filled, written or checked. */
const BATCHES = 6;
/** How often the body's spent socket buffers are freed (see collectYoung), as a fetch does (store/fetch/common.ts). */
const COLLECT_EVERY = 8 * 1024 * 1024;

/**
 * An upload's body on its way to its temp file: stopped at `max` bytes (the declared length is not
 * trusted), copied into a few batches (the file sink's blocks, written by their own thread) that
 * are written whole and then shown, in order, to the inspector. An inspector that `recycles` reads
 * the batch where it is and says when it is done with it ('recycle', with the batch's offset);
 * any other is given a copy of its own. A failed inspector is left out (its rejection stops the
 * upload). The stage is the only one between the socket and the disk: each stage of a pipe costs
 * the main thread a hop per chunk.
 */
export class UploadBody extends FileSink {
  private seen = 0;
  private collectAt = COLLECT_EVERY;
  private batch: Buffer | null = null;
  private filled = 0;
  private batches: Buffer[] | null = null;
  private free: Buffer[] = [];
  /** The last batch shown to the inspector: the next waits for it, so the inspector sees the body in order. */
  private shown: Promise<void> = Promise.resolve();
  /** `_write` waiting for a batch to come free. */
  private waiting: (() => void) | null = null;

  constructor(
    file: string,
    private readonly max: number,
    private readonly side: InspectorInput | undefined,
  ) {
    super(file, { flags: 'wx', mode: 0o644 });
    side?.on('recycle', (offset) => this.giveBack(this.batches?.find((b) => b.byteOffset === offset)));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.seen += chunk.length;
    if (this.seen > this.max) return callback(new RpcError(413, `the upload is larger than images.max_upload_bytes (${this.max})`));
    if (this.seen >= this.collectAt) {
      this.collectAt = this.seen + COLLECT_EVERY;
      collectYoung();
    }
    let at = 0;
    const step = (): void => {
      while (at < chunk.length) {
        this.batch ??= this.take();
        if (!this.batch) {
          this.waiting = step;
          return;
        }
        const n = chunk.copy(this.batch, this.filled, at);
        this.filled += n;
        at += n;
        if (this.filled === BATCH) this.ship();
      }
      callback();
    };
    step();
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    let i = 0;
    const next = (err?: Error | null): void => {
      if (err || i === chunks.length) return callback(err);
      this._write(chunks[i++].chunk, 'binary', next);
    };
    next();
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.filled > 0) this.ship();
    this.shown.then(() => {
      this.side?.end(undefined);
      super._final(callback);
    }, callback);
  }

  private take(): Buffer | null {
    if (!this.batches) {
      this.batches = this.blocks(BATCHES, BATCH);
      this.free = [...this.batches];
    }
    return this.free.pop() ?? null;
  }

  /** A batch is free again: written, and shown. */
  private giveBack(batch: Buffer | undefined): void {
    if (batch) this.free.push(batch);
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.();
  }

  /** Writes the batch, then shows it to the inspector, after the one before. */
  private ship(): void {
    const whole = this.batch!;
    const batch = whole.subarray(0, this.filled);
    this.batch = null;
    this.filled = 0;
    const written = this.writeBlock(batch);
    this.shown = Promise.all([written, this.shown]).then(
      () => this.show(batch, whole),
      () => {},
    );
  }

  private show(batch: Buffer, whole: Buffer): Promise<void> | void {
    const side = this.side;
    if (!side || side.destroyed) return this.giveBack(whole);
    if (side.recycles) return void side.write(batch);
    const accepted = side.write(Buffer.from(batch));
    this.giveBack(whole);
    // The inspector is behind: the next batch waits for it.
    if (!accepted) return drained(side);
  }
}
