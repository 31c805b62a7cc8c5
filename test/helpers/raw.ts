import WebSocket from 'ws';

export interface Frame { namespace: string; name: string; id: string | number; args: any }

/**
 * A bare WebSocket that queues every frame it receives, for tests that send things our own
 * client would never send.
 */
export class RawSocket {
  private readonly queue: Frame[] = [];
  private waiters: ((f: Frame) => void)[] = [];
  closed: { code: number; reason: string } | null = null;
  private closeWaiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      const w = this.waiters.shift();
      if (w) w(frame);
      else this.queue.push(frame);
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.closeWaiters.forEach((w) => w());
    });
    ws.on('error', () => {});
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<RawSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers });
      ws.once('open', () => resolve(new RawSocket(ws)));
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      ws.once('error', reject);
    });
  }

  send(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  request(namespace: string, name: string, args: unknown, id: string | number = Math.random().toString(36).slice(2)): Promise<Frame> {
    this.send(JSON.stringify({ namespace, name, id, args }));
    return this.next();
  }

  next(timeoutMs = 10_000): Promise<Frame> {
    const f = this.queue.shift();
    if (f) return Promise.resolve(f);
    return new Promise((resolve, reject) => {
      const waiter = (frame: Frame) => {
        clearTimeout(timer);
        resolve(frame);
      };
      const timer = setTimeout(() => {
        // A timed-out waiter must not swallow the next frame.
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error('no frame within timeout'));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('not closed within timeout')), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.closed!);
      });
    });
  }

  close(): void {
    this.ws.close();
  }
}
