/**
 * The dashboard's side of hyved's public WebSocket API (DESIGN §2), spoken by the browser itself:
 * the sysadm envelope, sign-in with a token, and `events` replayed with `since` after a reconnect.
 */

export interface RemoteError { code: number; reason?: string; message: string; details?: { path?: string; message?: string }[] }

export class CallError extends Error {
  constructor(readonly code: number, message: string, readonly details: RemoteError['details'] = [], readonly reason?: string) {
    super(message);
  }
}

export type Link = 'connecting' | 'up' | 'down';

type Listener = (name: string, args: Record<string, unknown>) => void;

const TOKEN_KEY = 'hyved.token';
const USER_KEY = 'hyved.user';

export function wsUrl(path: string): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

/**
 * One WebSocket to the daemon that comes back by itself: after a drop it reconnects with growing
 * pauses, signs in again with the session's token and resubscribes from the last `seq` seen.
 */
export class Api {
  private ws: WebSocket | null = null;
  private nextId = 1;
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<Listener>();
  private readonly linkListeners = new Set<(l: Link) => void>();
  private opened: Promise<void> | null = null;
  private retry = 0;
  private topics: string[] = [];
  private lastSeq = 0;
  private closedByUs = false;
  link: Link = 'connecting';
  token: string | null = sessionStorage.getItem(TOKEN_KEY);
  user: string | null = sessionStorage.getItem(USER_KEY);
  /** Called when the daemon no longer takes the token (idle expiry, sign-out elsewhere, restart). */
  onExpired: (message: string) => void = () => {};
  /** Called after a reconnect whose replay could not reach back far enough: state must be reloaded. */
  onGap: () => void = () => {};

  on(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onLink(fn: (l: Link) => void): () => void {
    this.linkListeners.add(fn);
    return () => this.linkListeners.delete(fn);
  }

  private setLink(l: Link): void {
    this.link = l;
    for (const fn of this.linkListeners) fn(l);
  }

  private open(): Promise<void> {
    this.opened ??= new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(wsUrl('/'));
      this.ws = ws;
      let wasOpen = false;
      ws.onopen = () => {
        wasOpen = true;
        this.retry = 0;
        resolve();
      };
      ws.onmessage = (m) => this.ws === ws && this.onMessage(String(m.data));
      ws.onclose = () => {
        reject(new CallError(0, 'cannot reach the daemon'));
        // A socket let go by sign-out may close after the next sign-in opened its own.
        if (this.ws !== ws) return;
        this.detach();
        if (this.closedByUs) return;
        if (wasOpen) this.setLink('down');
        this.scheduleReconnect();
      };
    });
    return this.opened;
  }

  private scheduleReconnect(): void {
    if (!this.token) return;
    const delay = Math.min(5000, 250 * 2 ** this.retry++);
    setTimeout(() => void this.resume().catch(() => {}), delay);
  }

  /** Reconnects, signs in with the kept token and picks the event stream up where it stopped. */
  async resume(): Promise<void> {
    if (!this.token) return;
    await this.open();
    try {
      await this.call('rpc', 'auth_token', { token: this.token });
    } catch (e) {
      if (e instanceof CallError && (e.code === 401 || e.code === 403)) return this.expire('Your session has ended. Please sign in again.');
      throw e;
    }
    if (this.topics.length) await this.subscribe(this.topics);
    this.setLink('up');
  }

  async signIn(username: string, password: string): Promise<void> {
    this.closedByUs = false;
    await this.open();
    const [token] = await this.call<[string, number]>('rpc', 'auth', { username, password });
    this.token = token;
    this.user = username;
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, username);
    this.setLink('up');
  }

  signOut(): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ namespace: 'rpc', name: 'auth_clear', id: `c${this.nextId++}`, args: {} }));
    this.forget();
  }

  private expire(message: string): void {
    this.forget();
    this.onExpired(message);
  }

  private forget(): void {
    this.token = null;
    this.user = null;
    this.topics = [];
    this.lastSeq = 0;
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    this.closedByUs = true;
    const ws = this.ws;
    this.detach();
    ws?.close();
  }

  private detach(): void {
    this.opened = null;
    this.ws = null;
    for (const p of this.pending.values()) p.reject(new CallError(0, 'connection lost'));
    this.pending.clear();
  }

  async subscribe(topics: string[]): Promise<void> {
    const events = [...new Set([...this.topics, ...topics])];
    const r = await this.call<{ seq: number; gap?: boolean }>('events', 'subscribe', this.lastSeq ? { events, since: this.lastSeq } : { events });
    // Kept only once granted: a type the user may not receive is refused with 403.
    this.topics = events;
    if (r.gap) this.onGap();
    if (!this.lastSeq || r.gap) this.lastSeq = r.seq;
  }

  async call<T = unknown>(namespace: string, name: string, args: unknown = {}): Promise<T> {
    await this.open();
    const id = `c${this.nextId++}`;
    const reply = new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
    this.ws!.send(JSON.stringify({ namespace, name, id, args }));
    try {
      return await reply;
    } catch (e) {
      // An idle token answers 401 to whatever comes next: back to the sign-in page.
      if (e instanceof CallError && e.code === 401 && this.token && !(namespace === 'rpc' && name.startsWith('auth'))) this.expire('Your session expired after a period of inactivity. Please sign in again.');
      throw e;
    }
  }

  private onMessage(text: string): void {
    let msg: { namespace: string; name: string; id: string; args: Record<string, unknown> };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.namespace === 'events' && msg.id === '') {
      const seq = Number(msg.args?.seq);
      if (seq > this.lastSeq) this.lastSeq = seq;
      for (const fn of this.listeners) fn(msg.name, msg.args);
      return;
    }
    // The daemon's word that the session ended on its own (idled out, account changed).
    if (msg.id === '' && msg.name === 'error' && (msg.args as unknown as RemoteError).code === 401 && this.token) {
      this.expire('Your session expired after a period of inactivity. Please sign in again.');
      return;
    }
    const p = this.pending.get(String(msg.id));
    if (!p) return;
    this.pending.delete(String(msg.id));
    if (msg.name === 'error') {
      const e = msg.args as unknown as RemoteError;
      p.reject(new CallError(e.code, e.message, e.details, e.reason));
    } else p.resolve(msg.args);
  }
}
