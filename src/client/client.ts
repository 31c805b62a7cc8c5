import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { ActionKey, Api } from '../core/api.gen.js';

export type { ActionKey, Api } from '../core/api.gen.js';

/** An action's args as a caller writes them: the `action` field comes from the key. */
export type RequestArgs<K extends ActionKey> = Api[K]['args'] extends { action: string } ? Omit<Api[K]['args'], 'action'> : Api[K]['args'];

export interface RemoteError { code: number; reason?: string; message: string; details: unknown[] }

export class CallError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details: unknown[] = [],
    /** The daemon's stable reason word (DESIGN §2), e.g. vm_busy, quota_exceeded; absent for client-side failures. */
    readonly reason?: string,
  ) {
    super(message);
  }
}

export interface ClientOptions { origin?: string; ca?: Buffer; rejectUnauthorized?: boolean; timeoutMs?: number }

/**
 * A WebSocket client for hyved's sysadm envelope: `call` resolves with the reply's args or rejects
 * with a CallError carrying the code; pushed events are emitted as ('event', name, args).
 */
export class HyvedClient extends EventEmitter {
  private nextId = 1;
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  private constructor(readonly ws: WebSocket, private readonly timeoutMs: number) {
    super();
    ws.on('message', (data) => this.onMessage(data.toString()));
    ws.on('close', (code, reason) => {
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new CallError(0, `connection closed (${code} ${reason.toString()})`));
      }
      this.pending.clear();
      this.emit('close', code, reason.toString());
    });
    ws.on('error', (err) => this.emit('transport-error', err));
  }

  static connect(url: string, opts: ClientOptions = {}): Promise<HyvedClient> {
    const wsUrl = url.replace(/^http/, 'ws');
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { origin: opts.origin, ca: opts.ca, rejectUnauthorized: opts.rejectUnauthorized ?? true });
      ws.once('open', () => resolve(new HyvedClient(ws, opts.timeoutMs ?? 30_000)));
      ws.once('unexpected-response', (_req, res) => reject(new CallError(res.statusCode ?? 0, `upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  call<T = unknown>(namespace: string, name: string, args?: unknown): Promise<T> {
    const id = `c${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CallError(0, `no reply to ${namespace}/${name} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.ws.send(JSON.stringify({ namespace, name, id, args }));
    });
  }

  /**
   * A typed call of the action `key` ("sysadm/vm/list", "rpc/auth"): its args and result types
   * are the daemon's own, generated from the same schemas it validates with.
   */
  request<K extends ActionKey>(key: K, args: RequestArgs<K>): Promise<Api[K]['result']> {
    const [namespace, name, action] = key.split('/');
    return this.call(namespace, name, action === undefined ? args : { action, ...(args as object) });
  }

  async login(username: string, password: string): Promise<string> {
    const [token] = await this.request('rpc/auth', { username, password });
    return token;
  }

  close(): void {
    this.ws.close();
  }

  private onMessage(text: string): void {
    let msg: { namespace: string; name: string; id: string | number; args: unknown };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.namespace === 'events' && msg.id === '') {
      this.emit('event', msg.name, msg.args);
      return;
    }
    const p = this.pending.get(String(msg.id));
    if (!p) {
      this.emit('unmatched', msg);
      return;
    }
    this.pending.delete(String(msg.id));
    clearTimeout(p.timer);
    if (msg.name === 'error') {
      const e = msg.args as RemoteError;
      p.reject(new CallError(e.code, e.message, e.details, e.reason));
    } else p.resolve(msg.args);
  }
}
