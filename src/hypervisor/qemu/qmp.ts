import { EventEmitter } from 'node:events';
import net from 'node:net';

export class QmpError extends Error {
  constructor(readonly errorClass: string, message: string) {
    super(message);
  }
}

export class QmpTimeout extends Error {}

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

/**
 * A small QMP client: greeting, qmp_capabilities, then commands with ids, each bounded by a
 * timeout so a hung QEMU never blocks its caller. Events arrive as ('event', name, data).
 * 'close' fires once when the socket goes away, which is also how a QEMU exit is noticed.
 */
export class QmpClient extends EventEmitter {
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    super();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.onClose());
    socket.on('error', () => {});
  }

  static connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new QmpTimeout(`no QMP greeting on ${path} within ${timeoutMs} ms`)), timeoutMs);
      socket.once('error', fail);
      let greeting = '';
      const onGreeting = (chunk: Buffer) => {
        greeting += chunk.toString('utf8');
        const nl = greeting.indexOf('\n');
        if (nl < 0) return;
        socket.off('data', onGreeting);
        socket.off('error', fail);
        clearTimeout(timer);
        let parsed: { QMP?: unknown };
        try {
          parsed = JSON.parse(greeting.slice(0, nl));
        } catch {
          socket.destroy();
          return reject(new QmpError('GenericError', 'not a QMP greeting'));
        }
        if (!parsed.QMP) {
          socket.destroy();
          return reject(new QmpError('GenericError', 'not a QMP greeting'));
        }
        const client = new QmpClient(socket);
        if (greeting.length > nl + 1) client.onData(greeting.slice(nl + 1));
        client.execute('qmp_capabilities', undefined, timeoutMs).then(
          () => resolve(client),
          (err) => {
            client.close();
            reject(err);
          },
        );
      };
      socket.on('data', onGreeting);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<T> {
    if (this.closed) return Promise.reject(new QmpError('Closed', 'QMP connection closed'));
    const id = `h${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeout(`QMP ${command} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n');
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: { id?: string; return?: unknown; error?: { class: string; desc: string }; event?: string; data?: unknown };
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (msg.event) {
      this.emit('event', msg.event, msg.data ?? {});
      return;
    }
    if (msg.id === undefined) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) p.reject(new QmpError(msg.error.class, msg.error.desc));
    else p.resolve(msg.return);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new QmpError('Closed', 'QMP connection closed'));
    }
    this.pending.clear();
    this.emit('close');
  }
}
