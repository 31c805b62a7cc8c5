/**
 * Subscriber side of bench/fanout.ts, forked with an IPC channel so that the subscribers' CPU is
 * not the orchestrator's. Holds `count` WebSocket connections, each signed in with rpc/auth_token
 * and subscribed to `audit`, and on 'arm' counts the audit events of rpc/identify requests (the
 * burst), recording for each its delay from the publish time in the event (`time`, ms) to receipt.
 */
import WebSocket from 'ws';

export type ToSub =
  | { cmd: 'connect'; url: string; token: string; count: number }
  | { cmd: 'subscribe' }
  | { cmd: 'arm'; expected: number }
  | { cmd: 'collect' }
  | { cmd: 'close' };

export interface BurstStats {
  received: number;
  complete: number;
  closed: number;
  firstReceipt: number;
  lastReceipt: number;
  minPublish: number;
  /** [delay ms, count] */
  hist: [number, number][];
}

export type FromSub =
  | { type: 'connected' }
  | { type: 'subscribed' }
  | { type: 'armed' }
  | { type: 'done'; partial: boolean; stats: BurstStats }
  | { type: 'failed'; error: string };

interface Sub { ws: WebSocket; got: number; reply: ((text: string) => void) | null }

const subs: Sub[] = [];
let expected = 0;
let armed = false;
let complete = 0;
let received = 0;
let closed = 0;
let firstReceipt = Infinity;
let lastReceipt = 0;
let minPublish = Infinity;
let hist = new Map<number, number>();

const send = (m: FromSub) => process.send!(m);

function stats(): BurstStats {
  return { received, complete, closed, firstReceipt, lastReceipt, minPublish, hist: [...hist] };
}

const EVENT_PREFIX = '{"namespace":"events","name":"audit"';
const BURST_MARK = '"name":"identify"';
const TIME_MARK = '"time":"';

function onFrame(sub: Sub, text: string): void {
  if (!text.startsWith(EVENT_PREFIX)) {
    const r = sub.reply;
    sub.reply = null;
    r?.(text);
    return;
  }
  if (!armed || !text.includes(BURST_MARK)) return;
  const now = Date.now();
  const at = text.lastIndexOf(TIME_MARK) + TIME_MARK.length;
  const published = Date.parse(text.slice(at, text.indexOf('"', at)));
  received++;
  if (now < firstReceipt) firstReceipt = now;
  if (now > lastReceipt) lastReceipt = now;
  if (published < minPublish) minPublish = published;
  const delay = Math.max(0, now - published);
  hist.set(delay, (hist.get(delay) ?? 0) + 1);
  if (++sub.got === expected && ++complete === subs.length) {
    armed = false;
    send({ type: 'done', partial: false, stats: stats() });
  }
}

function request(sub: Sub, frame: object): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    sub.reply = (text) => resolve(JSON.parse(text));
    sub.ws.send(JSON.stringify(frame));
  });
}

function open(url: string): Promise<Sub> {
  return new Promise((resolve, reject) => {
    // skipUTF8Validation: this process only measures; its CPU is better left to the daemon.
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { perMessageDeflate: false, skipUTF8Validation: true });
    const sub: Sub = { ws, got: 0, reply: null };
    ws.on('message', (data) => onFrame(sub, data.toString()));
    ws.once('open', () => resolve(sub));
    ws.once('error', reject);
    ws.on('close', () => closed++);
  });
}

async function connect(url: string, token: string, count: number): Promise<void> {
  const BATCH = 50;
  for (let i = 0; i < count; i += BATCH) {
    const batch = await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, () => open(url)));
    await Promise.all(batch.map(async (sub) => {
      const r = await request(sub, { namespace: 'rpc', name: 'auth_token', id: 'auth', args: { token } });
      if (r.name !== 'response') throw new Error(`auth_token: ${JSON.stringify(r)}`);
    }));
    subs.push(...batch);
  }
}

process.on('message', (m: ToSub) => {
  const run = async () => {
    switch (m.cmd) {
      case 'connect':
        await connect(m.url, m.token, m.count);
        return send({ type: 'connected' });
      case 'subscribe':
        await Promise.all(subs.map(async (sub) => {
          const r = await request(sub, { namespace: 'events', name: 'subscribe', id: 'sub', args: ['audit'] });
          if (r.name !== 'response') throw new Error(`subscribe: ${JSON.stringify(r)}`);
        }));
        return send({ type: 'subscribed' });
      case 'arm':
        expected = m.expected;
        received = complete = 0;
        firstReceipt = minPublish = Infinity;
        lastReceipt = 0;
        hist = new Map();
        for (const s of subs) s.got = 0;
        armed = true;
        return send({ type: 'armed' });
      case 'collect':
        armed = false;
        return send({ type: 'done', partial: true, stats: stats() });
      case 'close':
        for (const s of subs) s.ws.terminate();
        process.exit(0);
    }
  };
  run().catch((err: Error) => send({ type: 'failed', error: err.stack ?? String(err) }));
});
