/**
 * A GET over plain http whose body is read from the socket straight into a few reused blocks and
 * written to the file from where it landed: no buffer per chunk, no copy, no stream stage between
 * socket and disk. Node's http client hands a body over in 64 KiB chunks, each a new buffer passed
 * through its parser and two streams; a 1 GiB fetch that way cost about twice curl's CPU
 * (bench/RESULTS.md, iso-fetch). Here a read takes whatever the socket holds, up to a block.
 *
 * The response head is parsed here (status line, headers, 1xx interim answers skipped). A
 * `Transfer-Encoding` body is not decoded: the caller asks Node's client for it instead.
 */
import net from 'node:net';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { refusedDestination } from './destinations.js';
import { FetchError, abortedError, classify, seconds, sizeMismatch, stalledError, writeError, type FetchOptions, type FetchResult } from './common.js';

/** A destination that lends its reader blocks to fill and writes them back: each promise settles once that block is written. */
export interface BlockSink extends Writable {
  blocks(count: number, size: number): Buffer[];
  writeBlock(block: Buffer): Promise<void>;
}

export function takesBlocks(out: Writable): out is BlockSink {
  const o = out as Partial<BlockSink>;
  return typeof o.writeBlock === 'function' && typeof o.blocks === 'function';
}

/**
 * Four 1 MiB blocks, lent by the sink: reads fill one while up to three are being written. A block
 * is written once full (less than MIN_READ left), so a GiB is about a thousand hand-overs to the
 * sink's writer, not one per socket read.
 */
const BLOCK = 1024 * 1024;
const BLOCKS = 4;
const MIN_READ = 64 * 1024;
/** Node's own limit for a response head is 16 KiB; a server sending more is not serving a file. */
const MAX_HEAD = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

export interface PlainHead {
  status: number;
  message: string;
  location: string | undefined;
  /** The announced body length, null when the body runs to the end of the connection. */
  length: number | null;
  /** A Transfer-Encoding body, which this reader leaves to Node's parser. */
  encoded: boolean;
}

function protocolError(what: string, where: string): FetchError {
  return new FetchError(`invalid HTTP response from ${where}: ${what}`, 'protocol');
}

/** The head's text (latin1, without its blank line) → what the download needs of it. */
export function parseHead(text: string, where: string): PlainHead {
  const [statusLine, ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) throw protocolError(`bad status line '${statusLine.slice(0, 80)}'`, where);
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw protocolError(`bad header line '${line.slice(0, 80)}'`, where);
    const key = name.toLowerCase();
    headers.set(key, [...(headers.get(key) ?? []), line.slice(colon + 1).trim()]);
  }
  const encoded = headers.has('transfer-encoding');
  let length: number | null = null;
  const lengths = new Set(headers.get('content-length') ?? []);
  if (!encoded && lengths.size > 0) {
    const [only] = lengths;
    if (lengths.size > 1 || !/^\d{1,15}$/.test(only)) throw protocolError(`bad Content-Length '${[...lengths].join(', ').slice(0, 80)}'`, where);
    length = Number(only);
  }
  return { status: Number(m[1]), message: m[2] ?? '', location: headers.get('location')?.[0], length, encoded };
}

function requestFor(url: URL): Buffer {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'User-Agent: hyved', 'Accept: */*', 'Accept-Encoding: identity', 'Connection: close'];
  if (url.username || url.password) {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    lines.push(`Authorization: Basic ${Buffer.from(credentials).toString('base64')}`);
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** head: reading the response head; held: head given, body not yet asked for; body: reading it; drain: all read, writes finishing; done. */
type Phase = 'head' | 'held' | 'body' | 'drain' | 'done';

/** One exchange: `head()` resolves with the response head, then either `body(out)` or `discard()`. */
export class PlainGet {
  private readonly socket: net.Socket;
  private readonly blocks: Buffer[];
  /** Writes not yet finished, per block. */
  private readonly pending = new Map<Buffer, number>();
  /** The block being filled: bytes from..to are read and not yet written. */
  private block: Buffer;
  private from = 0;
  private to = 0;
  /** Where in `block` the socket reads next (what `buffer` last gave it). */
  private viewAt = 0;
  /** Set when no block was free for the next read: the socket still holds the tail of `block`, being written. */
  private stuck = false;
  private phase: Phase = 'head';
  private headBytes = Buffer.alloc(0);
  /** Body bytes that came with the head, kept until the caller takes the body. */
  private early: Buffer | null = null;
  private known: PlainHead | null = null;
  private bytes = 0;
  private reading = true;
  /** The server closed its side (EOF seen). */
  private ended = false;
  private failure: FetchError | null = null;
  /** The caller's wait: for the head, then for the body. */
  private settle: { resolve: (v: unknown) => void; reject: (err: FetchError) => void } | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort = () => this.fail(abortedError(this.where));

  constructor(
    url: URL,
    private readonly opts: FetchOptions,
    private readonly where: string,
    private readonly peer: string,
    private readonly out: BlockSink,
  ) {
    this.blocks = out.blocks(BLOCKS, BLOCK);
    this.block = this.blocks[0];
    this.timer = setTimeout(() => this.onStall(), opts.stallTimeoutMs);
    opts.signal.addEventListener('abort', this.onAbort, { once: true });
    this.socket = net.connect({
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(url.port || 80),
      lookup: opts.destinations.lookup(),
      // `buffer` may answer nothing: the socket then keeps its last view, and reading waits for it (onRead).
      onread: { buffer: (() => this.nextView()) as () => Uint8Array, callback: (n: number) => this.onRead(n) },
    });
    this.socket.once('connect', () => {
      // Beside the lookup's check: what the socket did connect to is what counts.
      if (this.socket.remoteAddress && opts.destinations.refuses(this.socket.remoteAddress)) return this.fail(classify(refusedDestination(), where, peer));
      this.socket.write(requestFor(url));
    });
    this.socket.on('error', (err) => this.lost(classify(err, where, peer)));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => {
      if (!this.ended) this.lost(new FetchError(`connection closed by ${peer} before the end of ${where}`, 'protocol'));
    });
    if (opts.signal.aborted) this.onAbort();
  }

  head(): Promise<PlainHead> {
    return this.wait<PlainHead>();
  }

  /** Writes the body into `out` and resolves once `out` has finished. */
  async body(): Promise<FetchResult> {
    const out = this.out;
    const total = this.known!.length;
    const done = this.wait<void>();
    this.phase = 'body';
    this.progress();
    if (this.early) this.write(this.early, this.count(this.early.length));
    this.early = null;
    this.check();
    if (this.ended) this.onEnd();
    else if (this.phase === 'body') this.resume();
    await done;
    // `out` may fail while finishing (its last writes): that error, not a hang.
    out.end();
    await finished(out).catch((err: unknown) => {
      throw writeError(err);
    });
    return { bytes: this.bytes, total };
  }

  discard(): void {
    this.phase = 'done';
    this.finish();
  }

  private wait<T>(): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.settle = { resolve: resolve as (v: unknown) => void, reject };
    });
  }

  private resolveWith(value: unknown): void {
    const settle = this.settle;
    this.settle = null;
    settle?.resolve(value);
  }

  /** The socket failed or closed: an error unless its part is over. */
  private lost(err: FetchError): void {
    if (this.phase !== 'drain') this.fail(err);
  }

  private fail(err: FetchError): void {
    if (this.failure || this.phase === 'done') return;
    this.failure = this.opts.signal.aborted ? abortedError(this.where) : err;
    this.phase = 'done';
    this.finish();
    const settle = this.settle;
    this.settle = null;
    settle?.reject(this.failure);
  }

  /** No more reading: the socket closed, the timers stopped. */
  private finish(): void {
    clearTimeout(this.timer);
    this.opts.signal.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
  }

  private onStall(): void {
    if (this.phase === 'done' || this.phase === 'drain') return;
    // Waiting on our own disk, or on the caller to take the body, is not the server's fault.
    if (this.phase === 'held' || (this.phase === 'body' && !this.reading)) {
      this.timer.refresh();
      return;
    }
    this.fail(
      this.phase === 'head'
        ? new FetchError(`no response from ${this.peer} for ${seconds(this.opts.stallTimeoutMs)}: transfer stalled`, 'stalled')
        : stalledError(this.opts.stallTimeoutMs),
    );
  }

  /**
   * Where the socket reads next: the rest of `block`, or a free block once it is nearly full. With
   * none free, nothing: the socket keeps its last view, in the block being written, and onRead has
   * stopped reading until that write is done (`written`).
   */
  private nextView(): Buffer | undefined {
    if (BLOCK - this.to < MIN_READ) {
      this.flush();
      const free = this.blocks.find((b) => !this.pending.get(b));
      if (!free) {
        this.stuck = true;
        return undefined;
      }
      this.block = free;
      this.from = this.to = 0;
    }
    this.viewAt = this.to;
    return this.block.subarray(this.to);
  }

  /** Called by the socket for every read: `n` new bytes at `viewAt` in `block`. Returns false to stop reading. */
  private onRead(n: number): boolean {
    this.timer.refresh();
    if (this.phase === 'head') this.readHead(this.block.subarray(this.viewAt, this.viewAt + n));
    else if (this.phase === 'body') {
      this.to += this.count(n);
      this.check();
    }
    // Read on only if nextView, called next, will have somewhere to put it.
    this.reading = this.phase === 'head' || (this.phase === 'body' && (BLOCK - this.to >= MIN_READ || this.blocks.some((b) => b !== this.block && !this.pending.get(b))));
    return this.reading;
  }

  private readHead(chunk: Buffer): void {
    let bytes = Buffer.concat([this.headBytes, chunk]);
    for (;;) {
      const end = bytes.indexOf(HEAD_END);
      if ((end < 0 ? bytes.length : end) > MAX_HEAD) return this.fail(protocolError(`response head larger than ${MAX_HEAD} bytes`, this.where));
      if (end < 0) {
        this.headBytes = bytes;
        return;
      }
      let head: PlainHead;
      try {
        head = parseHead(bytes.subarray(0, end).toString('latin1'), this.where);
      } catch (err) {
        return this.fail(err as FetchError);
      }
      bytes = bytes.subarray(end + HEAD_END.length);
      // 100 Continue and the like: the real answer follows.
      if (head.status >= 100 && head.status < 200) continue;
      this.headBytes = Buffer.alloc(0);
      this.early = bytes.length > 0 ? Buffer.from(bytes) : null;
      this.known = head;
      this.phase = 'held';
      this.resolveWith(head);
      return;
    }
  }

  /** Counts `n` bytes read (those past the announced length are dropped) and reports progress. */
  private count(n: number): number {
    const total = this.known!.length;
    const count = total === null ? n : Math.min(n, total - this.bytes);
    this.bytes += count;
    this.progress();
    return count;
  }

  /** Once the announced length is in, the rest is written and the body is complete. */
  private check(): void {
    const total = this.known!.length;
    if (this.phase === 'body' && total !== null && this.bytes >= total) this.complete();
  }

  /** Writes what is read of `block` and not yet written. */
  private flush(): void {
    if (this.to > this.from) this.write(this.block, this.to, this.from);
    this.from = this.to;
  }

  private write(block: Buffer, to: number, from = 0): void {
    if (to <= from) return;
    this.pending.set(block, (this.pending.get(block) ?? 0) + 1);
    this.out.writeBlock(block.subarray(from, to)).then(
      () => this.written(block),
      (err: unknown) => this.fail(writeError(err)),
    );
  }

  private written(block: Buffer): void {
    this.pending.set(block, this.pending.get(block)! - 1);
    if (this.phase === 'drain') {
      if (this.idle()) this.done();
    } else if (this.phase === 'body' && this.stuck && !this.pending.get(this.block)) {
      // The socket's view is free again: reading goes on into it.
      this.stuck = false;
      this.from = this.to = this.viewAt;
      this.resume();
    }
  }

  private resume(): void {
    this.reading = true;
    this.socket.resume();
  }

  private idle(): boolean {
    return [...this.pending.values()].every((n) => n === 0);
  }

  private progress(): void {
    try {
      this.opts.onProgress(this.bytes, this.known!.length);
    } catch (err) {
      this.fail(err instanceof FetchError ? err : new FetchError(String(err), 'other'));
    }
  }

  /** All the body is in: once every block is written, `body` goes on to finish `out`. */
  private complete(): void {
    this.flush();
    this.phase = 'drain';
    this.finish();
    if (this.idle()) this.done();
  }

  private done(): void {
    this.phase = 'done';
    this.resolveWith(undefined);
  }

  private onEnd(): void {
    this.ended = true;
    if (this.phase === 'head') return this.fail(new FetchError(`connection closed by ${this.peer} before a response to ${this.where}`, 'protocol'));
    if (this.phase !== 'body') return;
    const total = this.known!.length;
    if (total !== null && this.bytes < total) return this.fail(sizeMismatch(total, this.bytes, 'connection closed early'));
    this.complete();
  }
}
