import { watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../core/logger.js';
import type { SerialPort } from '../driver.js';
import { Ring } from './ring.js';
import type { SegmentLog } from './segments.js';

/** One attached client, as the transport carrying it implements it. */
export interface ConsoleViewer {
  readonly user: string;
  /** From the ticket: a read-only viewer never writes, whatever it sends. */
  readonly mayWrite: boolean;
  send(data: Buffer): void;
  notice(message: Record<string, unknown>): void;
  /** Bytes handed to send() and not yet on the wire. */
  buffered(): number;
  close(code: number, reason: string): void;
  /** Cuts the connection at once: a viewer that does not read would never read a close either. */
  cut(): void;
}

export interface SerialConsoleOptions {
  log: SegmentLog;
  port: SerialPort;
  ringBytes: number;
  segmentBytes: number;
  /** A viewer with more than this queued is dropped: it must never hold the VM or the others back. */
  viewerBufferBytes: number;
  /** Pushes a terminal size into the guest (its agent); false when nothing answers. */
  resizeGuest?: (cols: number, rows: number) => Promise<boolean>;
  /** A viewer took the keyboard from another (audited by the caller). */
  onTakeover?: (by: string, from: string | null) => void;
  logger: Logger;
}

const READ_CHUNK = 256 * 1024;
/** inotify can coalesce or (on overflow) lose events: a slow poll makes sure output is never left unread. */
const POLL_MS = 1000;
const ROTATION_RETRY_MS = 10_000;
/** A viewer whose socket takes in nothing for this long has stopped reading: it is let go. */
const STALL_MS = 5000;

interface Attached {
  viewer: ConsoleViewer;
  /** Offset of the next byte this viewer gets. */
  next: number;
  /** Served from memory or the files at its own pace (a replay, or behind): live output waits. */
  catchingUp: boolean;
  /** Counts catch-ups: one that a replay request overtook sees it changed when it wakes, and stops. */
  run: number;
}

/**
 * A running VM's serial console: the hypervisor appends the guest's output to the segment files,
 * this follows the newest one (a file has no reader to hold back, so neither a slow viewer nor
 * the daemon being down can stall or lose the guest's output), keeps the last bytes in memory,
 * and fans them out to any number of viewers. One viewer holds the keyboard; its bytes go to the
 * port's socket, opened while there is a writer.
 */
export class SerialConsole {
  private readonly ring: Ring;
  private readonly viewers = new Set<Attached>();
  private writer: Attached | null = null;
  private file: FileHandle | null = null;
  private filePath = '';
  /** How far into the current file we have read. */
  private pos = 0;
  private watcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private pumping = false;
  private retryRotationAt = 0;
  private again = false;
  private closed = false;
  private input: net.Socket | null = null;
  private readonly buf = Buffer.allocUnsafe(READ_CHUNK);

  constructor(private readonly o: SerialConsoleOptions) {
    this.ring = new Ring(o.ringBytes);
  }

  /** Fills the ring from the files' tail and follows the current segment from its end. */
  async start(): Promise<void> {
    const end = await this.o.log.end();
    const from = Math.max(this.o.log.start, end - this.o.ringBytes);
    const { offset, data } = await this.o.log.read(from, end - from);
    this.ring.reset(offset);
    this.ring.push(data);
    await this.follow(this.o.log.current.path, this.ring.end - (await this.o.log.currentBase()));
    this.poll = setInterval(() => this.pump(), POLL_MS).unref();
    this.pump();
  }

  /** Offset of the next byte the guest writes. */
  get offset(): number {
    return this.ring.end;
  }

  get writerName(): string | null {
    return this.writer?.viewer.user ?? null;
  }

  /** Scrollback without attaching: from memory when recent enough, else from the files. */
  async read(since: number | undefined, limit: number): Promise<{ offset: number; data: Buffer }> {
    const from = since ?? Math.max(this.o.log.start, this.ring.end - limit);
    const recent = this.ring.slice(from, limit);
    if (recent) return { offset: from, data: recent };
    return this.o.log.read(Math.min(from, this.ring.end), limit);
  }

  attach(viewer: ConsoleViewer): ViewerSession {
    const a: Attached = { viewer, next: this.ring.end, catchingUp: false, run: 0 };
    this.viewers.add(a);
    if (viewer.mayWrite && !this.writer) this.writer = a;
    viewer.notice({ type: 'hello', offset: a.next, start: this.o.log.start, writer: this.writer === a, writer_user: this.writerName });
    if (viewer.mayWrite && this.writer !== a) {
      viewer.notice({ type: 'writer-changed', writer: false, writer_user: this.writerName, hint: 'read-only: send {"type":"takeover"} to take the keyboard' });
    }
    return new ViewerSession(this, a);
  }

  /** The VM is gone: the last output goes out, then every viewer is told and let go. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    // Viewers behind get the last output before they are told (a stalled one is let go meanwhile).
    while ([...this.viewers].some((a) => a.catchingUp)) await sleep(20);
    this.stop();
    for (const a of [...this.viewers]) {
      a.viewer.notice({ type: 'vm-stopped', offset: this.ring.end });
      a.viewer.close(1000, 'vm stopped');
    }
    this.viewers.clear();
  }

  /** Lets go without notices (daemon shutdown): the VM keeps running and the files keep growing. */
  detach(): void {
    this.stop();
    for (const a of this.viewers) a.viewer.close(1001, 'daemon shutting down');
    this.viewers.clear();
  }

  private stop(): void {
    this.closed = true;
    this.stopFollowing();
    if (this.poll) clearInterval(this.poll);
    this.dropInput();
  }

  private dropInput(): void {
    this.input?.destroy();
    this.input = null;
  }

  // --- viewers' requests (ViewerSession) ---

  remove(a: Attached): void {
    this.viewers.delete(a);
    if (this.writer === a) {
      this.writer = null;
      this.input?.end();
      this.input = null;
    }
  }

  write(a: Attached, data: Buffer): void {
    if (this.writer !== a || this.closed) return;
    this.inputSocket().write(data);
  }

  takeover(a: Attached): void {
    if (!a.viewer.mayWrite) {
      a.viewer.notice({ type: 'error', message: 'this ticket is read-only: ask for one with write: true' });
      return;
    }
    if (this.writer === a) return;
    const from = this.writer;
    this.writer = a;
    this.o.onTakeover?.(a.viewer.user, from?.viewer.user ?? null);
    for (const v of this.viewers) v.viewer.notice({ type: 'writer-changed', writer: v === a, writer_user: a.viewer.user });
  }

  async resize(a: Attached, cols: number, rows: number): Promise<void> {
    if (this.writer !== a) {
      a.viewer.notice({ type: 'resize', applied: false, reason: 'only the viewer holding the keyboard sets the size' });
      return;
    }
    const applied = this.o.resizeGuest ? await this.o.resizeGuest(cols, rows).catch(() => false) : false;
    a.viewer.notice(
      applied ? { type: 'resize', applied: true, cols, rows } : { type: 'resize', applied: false, reason: 'no guest agent answers: the guest does not know the terminal size' },
    );
  }

  /** Sends [since, live end) from memory or the files, then live output resumes with nothing repeated. */
  async replay(a: Attached, since: number): Promise<void> {
    if (!Number.isSafeInteger(since) || since < 0 || since > this.ring.end) {
      a.viewer.notice({ type: 'error', message: `replay: since must be an offset from 0 to ${this.ring.end}` });
      return;
    }
    a.next = Math.max(since, this.o.log.start);
    a.viewer.notice({ type: 'replay', since, from: a.next, to: this.ring.end });
    await this.catchUp(a, true);
  }

  /**
   * Sends a viewer [next, live end) as fast as its socket drains, then hands it back to live
   * output. So a burst (or a slow link) costs that viewer's pace alone, and its unsent bytes stay
   * under the bound. `skipPruned`: a replay reaching back past the files starts at the oldest kept
   * byte; a viewer that fell that far behind live output would lose bytes, and is let go instead.
   */
  private async catchUp(a: Attached, skipPruned: boolean): Promise<void> {
    const run = ++a.run;
    const current = () => this.viewers.has(a) && a.run === run;
    a.catchingUp = true;
    try {
      while (current() && a.next < this.ring.end) {
        if (!(await this.drained(a))) return this.drop(a, `took in nothing for ${STALL_MS / 1000} s`);
        if (!current()) return;
        const { offset, data } = await this.read(a.next, Math.min(READ_CHUNK, this.ring.end - a.next));
        if (!current()) return;
        if (data.length === 0) break;
        if (offset !== a.next && !skipPruned) return this.drop(a, `fell behind the output kept, at offset ${a.next}`);
        a.next = offset;
        a.viewer.send(data);
        a.next += data.length;
      }
    } catch (err) {
      return this.drop(a, `could not be sent its output: ${(err as Error).message}`);
    }
    // Synchronously with the last check: no live chunk can slip between.
    if (a.run === run) a.catchingUp = false;
  }

  /** Waits until the viewer holds at most half the bound unsent; false if meanwhile it stalled. */
  private async drained(a: Attached): Promise<boolean> {
    const half = this.o.viewerBufferBytes / 2;
    let least = a.viewer.buffered();
    let progressAt = Date.now();
    while (this.viewers.has(a) && a.viewer.buffered() > half) {
      await sleep(5);
      const now = a.viewer.buffered();
      if (now < least) {
        least = now;
        progressAt = Date.now();
      } else if (Date.now() - progressAt > STALL_MS) return false;
    }
    return true;
  }

  // --- following the files ---

  private async follow(file: string, pos: number): Promise<void> {
    this.stopFollowing();
    this.filePath = file;
    this.pos = pos;
    // QEMU creates the file when it opens it; until then there is nothing to read.
    this.file = await open(file, 'r').catch(() => null);
    try {
      this.watcher = watch(file, { persistent: false }, () => this.pump());
      this.watcher.on('error', () => {});
    } catch {
      this.watcher = null;
    }
  }

  private stopFollowing(): void {
    this.watcher?.close();
    this.watcher = null;
    const f = this.file;
    this.file = null;
    void f?.close().catch(() => {});
  }

  /** Reads until the end of the current file; rotates once it is full. One pump runs at a time. */
  private pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    if (this.closed) return;
    this.pumping = true;
    void this.pumpLoop()
      .catch((err) => this.o.logger.warn(`console ${this.filePath}: ${(err as Error).message}`))
      .finally(() => {
        this.pumping = false;
        if (this.again) {
          this.again = false;
          this.pump();
        }
      });
  }

  private async pumpLoop(): Promise<void> {
    do {
      this.again = false;
      await this.readToEnd();
      if (this.pos >= this.o.segmentBytes && !this.closed) await this.rotate();
    } while (this.again && !this.closed);
  }

  private async readToEnd(): Promise<void> {
    if (!this.file) {
      this.file = await open(this.filePath, 'r').catch(() => null);
      if (!this.file) return;
      if (!this.watcher) await this.follow(this.filePath, this.pos);
    }
    for (;;) {
      const file = this.file;
      if (!file) return;
      const { bytesRead } = await file.read(this.buf, 0, READ_CHUNK, this.pos);
      if (bytesRead === 0) return;
      this.pos += bytesRead;
      this.deliver(Buffer.from(this.buf.subarray(0, bytesRead)));
    }
  }

  /**
   * Points the hypervisor at the next segment, then finishes the full one before following the new.
   * A failed switch is tried again later; the new file exists once QEMU has opened it, so whichever
   * half of the switch went through, the file followed is the one written.
   */
  private async rotate(): Promise<void> {
    if (Date.now() < this.retryRotationAt) return;
    const next = await this.o.log.next();
    // A guest write QEMU could not finish on our input connection waits on that connection; swapped
    // away under it, the guest's output stopped for good (seen once under load). Without a client
    // QEMU drops the socket side of a write, so the connection goes first and QEMU is given a moment.
    if (this.input) {
      this.dropInput();
      await sleep(50);
    }
    try {
      await this.o.port.switchLog(next.path);
    } catch (err) {
      this.retryRotationAt = Date.now() + ROTATION_RETRY_MS;
      this.o.logger.warn(`console: cannot move the serial log to ${next.path}, trying again in ${ROTATION_RETRY_MS / 1000} s: ${(err as Error).message}`);
    }
    // The input socket was replaced with the chardev: the next keystroke reconnects.
    this.dropInput();
    await this.readToEnd();
    if (await stat(next.path).then(() => true, () => false)) await this.follow(next.path, 0);
  }

  /** Once the pump has read everything written so far. */
  private async drain(): Promise<void> {
    while (this.pumping) await sleep(5);
    await this.pumpLoop().catch(() => {});
  }

  private deliver(chunk: Buffer): void {
    const start = this.ring.end;
    this.ring.push(chunk);
    for (const a of this.viewers) {
      if (a.catchingUp || a.next >= this.ring.end) continue;
      // Behind: this chunk and what follows come from memory or the files as it drains.
      if (a.next < start || a.viewer.buffered() > this.o.viewerBufferBytes / 2) {
        void this.catchUp(a, false);
        continue;
      }
      a.viewer.send(a.next > start ? chunk.subarray(a.next - start) : chunk);
      a.next = this.ring.end;
    }
  }

  private drop(a: Attached, why: string): void {
    if (!this.viewers.has(a)) return;
    this.remove(a);
    this.o.logger.info(`console viewer ${a.viewer.user} dropped: it ${why}`);
    a.viewer.cut();
  }

  private inputSocket(): net.Socket {
    if (this.input && !this.input.destroyed) return this.input;
    const sock = net.createConnection(this.o.port.socketPath);
    // The same output reaches the files; what comes back here is read only so QEMU never blocks on us.
    sock.on('data', () => {});
    sock.on('error', (err: NodeJS.ErrnoException) => {
      // The VM going away (or its chardev being swapped) resets the connection: nothing to report.
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') this.o.logger.warn(`console input ${this.o.port.socketPath}: ${err.message}`);
    });
    sock.on('close', () => {
      if (this.input === sock) this.input = null;
    });
    this.input = sock;
    return sock;
  }
}

/** What a transport holds for one attached viewer. */
export class ViewerSession {
  constructor(
    private readonly console: SerialConsole,
    private readonly a: Attached,
  ) {}

  input(data: Buffer): void {
    this.console.write(this.a, data);
  }

  replay(since: number): Promise<void> {
    return this.console.replay(this.a, since);
  }

  resize(cols: number, rows: number): Promise<void> {
    return this.console.resize(this.a, cols, rows);
  }

  takeover(): void {
    this.console.takeover(this.a);
  }

  detach(): void {
    this.console.remove(this.a);
  }
}
