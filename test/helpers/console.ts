import WebSocket from 'ws';
import type { HyvedClient } from '../../src/client/client.js';

export interface Notice { type: string; [k: string]: unknown }

/** A console viewer as a browser would be: ticket over the signed-in API, then a WebSocket. */
export interface ConsoleViewer {
  ws: WebSocket;
  hello: Notice;
  notices: Notice[];
  /** Everything received in binary frames. */
  bytes(): Buffer;
  /** How many bytes that is (without joining them). */
  received(): number;
  /** How many bytes had been received when notice `n` came. */
  bytesBefore(n: Notice): number;
  text(): string;
  /** Resolves once the received text matches `pattern` (from byte `from` on). */
  until(pattern: RegExp, ms?: number, from?: number): Promise<string>;
  notice(type: string, ms?: number): Promise<Notice>;
  type(text: string): void;
  control(message: Record<string, unknown>): void;
  closed: Promise<{ code: number; reason: string }>;
}

export async function ticket(c: HyvedClient, vmid: string, extra: Record<string, unknown> = {}): Promise<{ ticket: string; url: string; expires_s: number }> {
  return c.call('sysadm', 'console', { action: 'ticket', vmid, kind: 'serial', ...extra });
}

/**
 * Opens `url` (a ticket's) on the daemon; rejects with the HTTP status when the upgrade is refused.
 * `onMessage` is attached before the upgrade completes: the daemon's first frame can arrive with it.
 */
export function openSocket(base: string, url: string, headers: Record<string, string> = {}, onMessage?: (data: WebSocket.RawData, isBinary: boolean) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + url, { headers });
    if (onMessage) ws.on('message', onMessage);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

export async function attach(base: string, c: HyvedClient, vmid: string, extra: Record<string, unknown> = {}): Promise<ConsoleViewer> {
  const t = await ticket(c, vmid, extra);
  const chunks: Buffer[] = [];
  let size = 0;
  const notices: Notice[] = [];
  const noticedAt = new WeakMap<Notice, number>();
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const ws = await openSocket(base, t.url, {}, (data, isBinary) => {
    if (isBinary) {
      chunks.push(data as Buffer);
      size += (data as Buffer).length;
    } else {
      const n = JSON.parse(String(data)) as Notice;
      noticedAt.set(n, size);
      notices.push(n);
    }
    wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => {
      resolve({ code, reason: String(reason) });
      wake();
    }),
  );
  const bytes = () => {
    if (chunks.length > 1) chunks.splice(0, chunks.length, Buffer.concat(chunks, size));
    return chunks[0] ?? Buffer.alloc(0);
  };
  const wait = <T>(probe: () => T | undefined, what: string, ms: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v !== undefined) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`console: no ${what} within ${ms} ms; text so far:\n${bytes().toString('latin1').slice(-1500)}\nnotices: ${JSON.stringify(notices)}`));
      }, ms);
      waiters.add(check);
      check();
    });
  const notice = (type: string, ms = 10_000) => wait(() => notices.find((n) => n.type === type), `notice ${type}`, ms);
  const hello = await notice('hello');
  return {
    ws,
    hello,
    notices,
    bytes,
    received: () => size,
    bytesBefore: (n) => noticedAt.get(n)!,
    text: () => bytes().toString('latin1'),
    until: (pattern, ms = 30_000, from = 0) => wait(() => pattern.exec(bytes().subarray(from).toString('latin1'))?.[0], String(pattern), ms),
    notice,
    type: (text) => ws.send(Buffer.from(text), { binary: true }),
    control: (message) => ws.send(JSON.stringify(message)),
    closed,
  };
}
