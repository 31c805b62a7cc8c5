import { WebSocket } from 'ws';
import type { TestDaemon } from './daemon.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** A daemon started with INSPECT_ARGS, seen from inside: its own memory figures, a full GC on demand. */
export interface Inspector {
  memoryUsage(): Promise<NodeJS.MemoryUsage>;
  collectGarbage(): Promise<void>;
  close(): void;
}

export const INSPECT_ARGS = ['--inspect=127.0.0.1:0'];

/** Connects to the daemon's inspector (Chrome DevTools Protocol over WebSocket). */
export async function inspect(d: TestDaemon, timeoutMs = 5000): Promise<Inspector> {
  const until = Date.now() + timeoutMs;
  let m: RegExpExecArray | null;
  while (!(m = /Debugger listening on (ws:\/\/\S+)/.exec(d.output()))) {
    if (Date.now() > until) throw new Error(`the daemon's inspector did not open:\n${d.output().slice(-2000)}`);
    await sleep(50);
  }
  const ws = new WebSocket(m[1], { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  const waiting = new Map<number, (msg: { result?: { result?: { value?: unknown } }; error?: { message: string } }) => void>();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg);
  });
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<{ result?: { result?: { value?: unknown } } }>((resolve, reject) => {
      if (ws.readyState !== WebSocket.OPEN) return reject(new Error('inspector connection closed'));
      waiting.set(++id, (msg) => (msg.error ? reject(new Error(msg.error.message)) : resolve(msg)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    async memoryUsage() {
      const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())' });
      return JSON.parse(String(r.result?.result?.value)) as NodeJS.MemoryUsage;
    },
    async collectGarbage() {
      await call('HeapProfiler.collectGarbage');
    },
    close: () => ws.terminate(),
  };
}
