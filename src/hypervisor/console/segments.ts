import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../store/atomic.js';

/** Where the first kept segment starts: the only number not derivable from the files themselves. */
interface Index { first_seq: number; first_base: number }

const SEGMENT = /^serial-(\d{1,12})\.log$/;

/**
 * A VM's serial output on disk: numbered segment files written by the hypervisor (QEMU's chardev
 * `logfile`), the newest being appended to. Each byte's offset counts from the VM's creation: a
 * segment's base is the first kept one's base (index.json) plus the sizes of those before it, so
 * offsets survive daemon and VM restarts and need no bookkeeping while output flows. Rotation
 * points the hypervisor at the next number and deletes the oldest beyond `keep`.
 */
export class SegmentLog {
  private index: Index = { first_seq: 0, first_base: 0 };
  private seqs: number[] = [];

  constructor(readonly dir: string, private readonly keep: number) {}

  /** A VM's log, in `<vmDir>/console/`, taking over the single `console.log` VMs had before segments. */
  static forVm(vmDir: string, keep: number): Promise<SegmentLog> {
    return new SegmentLog(path.join(vmDir, 'console'), keep).open(path.join(vmDir, 'console.log'));
  }

  static pathIn(dir: string, seq: number): string {
    return path.join(dir, `serial-${seq}.log`);
  }

  /**
   * Reads the index and the segment list; removes segments an interrupted prune left behind.
   * `legacy`: a single log file from before segments (console.log), taken over as the first
   * segment so its bytes keep their offsets; renaming it is safe while QEMU still writes to it.
   */
  async open(legacy?: string): Promise<this> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const text = await readFile(path.join(this.dir, 'index.json'), 'utf8').catch(() => null);
    if (text) {
      const i = JSON.parse(text) as Partial<Index>;
      if (Number.isSafeInteger(i.first_seq) && Number.isSafeInteger(i.first_base)) this.index = i as Index;
    }
    const seqs: number[] = [];
    for (const name of await readdir(this.dir)) {
      const m = SEGMENT.exec(name);
      if (!m) continue;
      const seq = Number(m[1]);
      if (seq < this.index.first_seq) await rm(path.join(this.dir, name), { force: true });
      else seqs.push(seq);
    }
    this.seqs = seqs.sort((a, b) => a - b);
    if (this.seqs.length === 0) {
      if (legacy && (await stat(legacy).catch(() => null))) await rename(legacy, this.pathOf(this.index.first_seq));
      // The first segment counts before the hypervisor creates it: rotation and pruning start from it.
      this.seqs = [this.index.first_seq];
    }
    return this;
  }

  /** The file the hypervisor should append to now. */
  get current(): { seq: number; path: string } {
    const seq = this.seqs.at(-1)!;
    return { seq, path: this.pathOf(seq) };
  }

  pathOf(seq: number): string {
    return SegmentLog.pathIn(this.dir, seq);
  }

  /** Offset of the first byte still kept. */
  get start(): number {
    return this.index.first_base;
  }

  /** Each kept segment with its base offset and size, oldest first. */
  async layout(): Promise<{ seq: number; base: number; size: number }[]> {
    let base = this.index.first_base;
    const out = [];
    for (const seq of this.seqs) {
      const size = (await stat(this.pathOf(seq)).catch(() => null))?.size ?? 0;
      out.push({ seq, base, size });
      base += size;
    }
    return out;
  }

  /** Offset one past the last byte written so far. */
  async end(): Promise<number> {
    const last = (await this.layout()).at(-1)!;
    return last.base + last.size;
  }

  /** Base offset of the current segment. */
  async currentBase(): Promise<number> {
    return (await this.layout()).at(-1)!.base;
  }

  /** Bytes [from, from+limit) clipped to what is kept; `from` is raised to the oldest kept byte. */
  async read(from: number, limit: number): Promise<{ offset: number; data: Buffer }> {
    const parts: Buffer[] = [];
    const layout = await this.layout();
    const offset = Math.max(from, this.index.first_base);
    let at = offset;
    let left = limit;
    for (const seg of layout) {
      if (left <= 0) break;
      if (at >= seg.base + seg.size) continue;
      const fh = await open(this.pathOf(seg.seq), 'r').catch(() => null);
      if (!fh) continue;
      try {
        const want = Math.min(left, seg.base + seg.size - at);
        const buf = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(buf, 0, want, at - seg.base);
        parts.push(buf.subarray(0, bytesRead));
        at += bytesRead;
        left -= bytesRead;
        if (bytesRead < want) break;
      } finally {
        await fh.close();
      }
    }
    return { offset, data: Buffer.concat(parts) };
  }

  /** Starts segment `seq + 1` (the caller points the hypervisor at it next) and drops those beyond `keep`. */
  async next(): Promise<{ seq: number; path: string }> {
    const seq = this.current.seq + 1;
    this.seqs.push(seq);
    await this.prune();
    return { seq, path: this.pathOf(seq) };
  }

  // The index moves first: a crash between the two leaves a stale file that open() removes.
  private async prune(): Promise<void> {
    while (this.seqs.length > this.keep) {
      const seq = this.seqs[0];
      const size = (await stat(this.pathOf(seq)).catch(() => null))?.size ?? 0;
      this.index = { first_seq: this.seqs[1], first_base: this.index.first_base + size };
      await writeFileAtomic(path.join(this.dir, 'index.json'), JSON.stringify(this.index) + '\n', 0o600);
      this.seqs.shift();
      await rm(this.pathOf(seq), { force: true });
    }
  }
}
