/**
 * One fuzzing WebSocket: sends frames (exact bytes, text or binary), matches replies by id,
 * classifies pushed events, and reports anything the daemon sends that no request asked for.
 */
import WebSocket from 'ws';
import type { Expectation } from './predict.js';

export interface SentFrame {
  conn: string;
  authed: boolean;
  binary: boolean;
  /** The frame as UTF-8 text when it is valid UTF-8, else base64 of the bytes. */
  text?: string;
  base64?: string;
  labels: string[];
  action: string;
  expect: { id: string | number; codes?: number[]; reason: string };
  at: string;
}

export interface Reply {
  /** The reply text as received. */
  text: string;
  binary: boolean;
  /** Parsed JSON, when it parsed. */
  frame?: Record<string, unknown>;
  ms: number;
}

export type Outcome = { kind: 'reply'; reply: Reply } | { kind: 'timeout' } | { kind: 'closed'; code: number; reason: string };

interface Pending {
  resolve(o: Outcome): void;
  timer: NodeJS.Timeout;
  started: number;
}

/** Problems found outside of a request's own reply: stray frames, closes. */
export interface StrayReport {
  conn: FuzzConn;
  kind: 'unexpected-frame' | 'connection-closed' | 'bad-event';
  message: string;
  text?: string;
}

const keyOf = (id: unknown) => `${typeof id}:${String(id)}`;

export class FuzzConn {
  authed = false;
  readonly history: SentFrame[] = [];
  events = 0;
  private readonly pending = new Map<string, Pending>();
  private readonly timedOut = new Set<string>();
  private closing = false;
  closed: { code: number; reason: string } | null = null;

  private constructor(
    readonly label: string,
    private readonly ws: WebSocket,
    private readonly onStray: (r: StrayReport) => void,
    private readonly eventTypes: Set<string>,
  ) {
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.resolve({ kind: 'closed', code, reason: reason.toString() });
      }
      this.pending.clear();
      if (!this.closing) this.onStray({ conn: this, kind: 'connection-closed', message: `daemon closed the connection: ${code} ${reason.toString()}` });
    });
    ws.on('error', () => {});
  }

  static open(url: string, label: string, onStray: (r: StrayReport) => void, eventTypes: Set<string>): Promise<FuzzConn> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws'), { perMessageDeflate: false });
      ws.once('open', () => resolve(new FuzzConn(label, ws, onStray, eventTypes)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends the bytes and resolves with the reply carrying `expectId` (or a timeout / close). */
  request(data: Buffer, binary: boolean, expectId: string | number, timeoutMs: number, record: Omit<SentFrame, 'conn' | 'authed' | 'text' | 'base64' | 'binary' | 'at'>): Promise<Outcome> {
    const sent: SentFrame = {
      conn: this.label,
      authed: this.authed,
      binary,
      ...(isUtf8Text(data) ? { text: data.toString('utf8') } : { base64: data.toString('base64') }),
      ...record,
      at: new Date().toISOString(),
    };
    this.history.push(sent);
    if (this.history.length > 8) this.history.shift();
    if (this.closed) return Promise.resolve({ kind: 'closed', ...this.closed });
    const key = keyOf(expectId);
    if (this.pending.has(key)) throw new Error(`fuzzer bug: two requests in flight with id ${key}`);
    return new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        this.timedOut.add(key);
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      this.pending.set(key, { resolve, timer, started: performance.now() });
      this.ws.send(data, { binary });
    });
  }

  /** Sends without waiting for anything (for hang-ups). */
  fire(data: Buffer, binary: boolean): void {
    if (!this.closed) this.ws.send(data, { binary });
  }

  close(): Promise<void> {
    this.closing = true;
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, 2000);
      this.ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      this.ws.close();
    });
  }

  terminate(): void {
    this.closing = true;
    this.ws.terminate();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    const text = data.toString('utf8');
    if (isBinary) {
      this.onStray({ conn: this, kind: 'unexpected-frame', message: 'the daemon sent a binary frame', text: data.toString('base64') });
      return;
    }
    let frame: Record<string, unknown> | undefined;
    try {
      const parsed = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) frame = parsed;
    } catch {
      // reported below
    }
    if (!frame) {
      this.onStray({ conn: this, kind: 'unexpected-frame', message: 'the daemon sent a frame that is not a JSON object', text });
      return;
    }
    if (frame.name !== 'response' && frame.name !== 'error') {
      this.events++;
      const ok =
        frame.namespace === 'events' &&
        typeof frame.name === 'string' &&
        this.eventTypes.has(frame.name) &&
        frame.id === '' &&
        frame.args !== null &&
        typeof frame.args === 'object' &&
        typeof (frame.args as Record<string, unknown>).seq === 'number';
      if (!ok) this.onStray({ conn: this, kind: 'bad-event', message: 'a frame that is neither a reply nor a well-formed event', text: text.slice(0, 4096) });
      return;
    }
    // The daemon tells a connection when its session ends elsewhere (another connection's
    // auth_clear of a shared token, an account change): an error with id "", never a reply.
    const notice = frame.args as { code?: unknown; message?: unknown } | null;
    if (frame.name === 'error' && frame.id === '' && notice?.code === 401 && String(notice.message).startsWith('session expired')) {
      this.authed = false;
      return;
    }
    const key = keyOf(frame.id);
    const p = this.pending.get(key);
    if (!p) {
      const late = this.timedOut.delete(key);
      const message = late
        ? `a late reply (after the timeout) with id ${JSON.stringify(frame.id)}`
        : `a reply with id ${JSON.stringify(frame.id)} that no request in flight carries (a second reply?)`;
      this.onStray({ conn: this, kind: 'unexpected-frame', message, text: text.slice(0, 4096) });
      return;
    }
    this.pending.delete(key);
    clearTimeout(p.timer);
    p.resolve({ kind: 'reply', reply: { text, binary: false, frame, ms: Math.round(performance.now() - p.started) } });
  }
}

function isUtf8Text(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

export type { Expectation };
