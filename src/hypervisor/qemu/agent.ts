import { randomInt } from 'node:crypto';
import net from 'node:net';
import {
  AgentCommandError, AgentUnavailable,
  type ExecOptions, type ExecResult, type GuestAddress, type GuestAgent, type GuestOsInfo,
} from '../agent.js';

/** qemu-ga returns up to 16 MiB per stream, base64: a reply line is bounded a little above both. */
const MAX_REPLY = 48 * 1024 * 1024;
/** Lines nobody asked for (the guest is not trusted): past this many the connection is dropped. */
const MAX_UNREAD_LINES = 64;
/** What a caller gets of each of stdout and stderr. */
export const MAX_OUTPUT = 1024 * 1024;
/** A status poll may outlast the command's deadline by this much: a slow guest is not a silent one. */
const POLL_GRACE_MS = 2000;
/** A live agent answers a sync in well under a second; one that has not in this long is not there. */
const SYNC_MS = 5000;
/** Killing a command that outlived its deadline, and collecting what it wrote. */
const KILL_MS = 1000;

const DELIMITER = 0xff;
const noop = () => {};

interface Reply { return?: unknown; error?: { class?: string; desc?: string } }
interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
  'out-truncated'?: boolean;
  'err-truncated'?: boolean;
}

/**
 * A client of qemu-ga on the VM's virtio-serial socket. QEMU serves that socket to one client at
 * a time, and bytes written while the guest has no agent listening wait in it: so one connection,
 * resynchronised when opened (0xFF + guest-sync-delimited, stale replies skipped until our id comes
 * back) and dropped on any timeout, which also discards what the agent never read. Commands go
 * one at a time; each has a deadline that covers its wait for a turn, so a silent agent costs every
 * caller at most its own timeout.
 */
export class QemuGuestAgent implements GuestAgent {
  private socket: net.Socket | null = null;
  private ready: Promise<void> | null = null;
  private syncing = false;
  private pending: Buffer[] = [];
  private pendingSize = 0;
  private readonly lines: string[] = [];
  private reader: { resolve: (line: string) => void; reject: (err: Error) => void } | null = null;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly path: string) {}

  async ping(timeoutMs = 1000): Promise<boolean> {
    return this.call('guest-ping', undefined, timeoutMs).then(() => true, () => false);
  }

  async exec(command: string | string[], opts: ExecOptions): Promise<ExecResult> {
    const deadline = Date.now() + opts.timeoutMs;
    const argv = typeof command === 'string' ? ['/bin/sh', '-c', command] : command;
    let pid: unknown;
    try {
      ({ pid } = await this.call<{ pid?: unknown }>('guest-exec', {
        path: argv[0],
        arg: argv.slice(1),
        'capture-output': true,
        ...(opts.stdin !== undefined ? { 'input-data': Buffer.from(opts.stdin).toString('base64') } : {}),
      }, opts.timeoutMs));
    } catch (err) {
      // The program could not be started (no such file...): a shell would say 127 with the reason.
      if (err instanceof AgentCommandError && err.errorClass === 'GenericError') {
        return { exitcode: 127, stdout: '', stderr: `${err.message}\n`, timedOut: false, truncated: false };
      }
      throw err;
    }
    if (!Number.isInteger(pid)) throw new AgentCommandError('BadReply', 'guest-exec answered without a pid');
    for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
      const left = deadline - Date.now();
      if (left <= 0) return this.killLate(pid as number);
      const st = await this.call<ExecStatus | null>('guest-exec-status', { pid }, Math.max(left, POLL_GRACE_MS));
      if (st?.exited) return result(st, false);
      await new Promise((r) => setTimeout(r, Math.min(wait, Math.max(deadline - Date.now(), 0))));
    }
  }

  async networkInterfaces(timeoutMs = 2000): Promise<GuestAddress[]> {
    type Iface = { name: string; 'hardware-address'?: string; 'ip-addresses'?: { 'ip-address-type': string; 'ip-address': string; prefix: number }[] };
    const ifaces = await this.call<Iface[]>('guest-network-get-interfaces', undefined, timeoutMs);
    if (!Array.isArray(ifaces)) return [];
    return ifaces.flatMap((i) =>
      (Array.isArray(i?.['ip-addresses']) ? i['ip-addresses'] : [])
        .filter((a) => typeof a?.['ip-address'] === 'string' && typeof i.name === 'string' && Number.isInteger(a.prefix))
        .filter((a) => i.name !== 'lo' && a['ip-address'] !== '::1' && !a['ip-address'].startsWith('127.'))
        .map((a) => ({
          interface: i.name,
          mac: typeof i['hardware-address'] === 'string' ? i['hardware-address'] : null,
          family: a['ip-address-type'] === 'ipv6' ? ('ipv6' as const) : ('ipv4' as const),
          address: a['ip-address'],
          prefix: a.prefix,
        })),
    );
  }

  async osInfo(timeoutMs = 2000): Promise<GuestOsInfo | null> {
    try {
      const info = await this.call<Record<string, unknown>>('guest-get-osinfo', undefined, timeoutMs);
      const fields = Object.entries(info ?? {}).flatMap(([k, v]) => (typeof v === 'string' ? [[k.replace(/-/g, '_'), v] as const] : []));
      return Object.fromEntries(fields);
    } catch (err) {
      if (err instanceof AgentCommandError && err.errorClass === 'CommandNotFound') return null;
      throw err;
    }
  }

  async setConsoleSize(cols: number, rows: number): Promise<boolean> {
    const argv = ['stty', '-F', '/dev/ttyS0', 'rows', String(rows), 'cols', String(cols)];
    return this.exec(argv, { timeoutMs: 3000 }).then((r) => r.exitcode === 0, () => false);
  }

  close(): void {
    this.closed = true;
    this.drop(new AgentUnavailable('the VM has stopped'));
  }

  /** One command and its reply, after every earlier one, within `timeoutMs` from now. */
  private call<T>(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    const turn = this.queue.then(() => this.exchange<T>(command, args, deadline));
    this.queue = turn.then(noop, noop);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(silent(command, timeoutMs)), timeoutMs + 50);
    });
    return Promise.race([turn, waited]).finally(() => clearTimeout(timer));
  }

  private async exchange<T>(command: string, args: Record<string, unknown> | undefined, deadline: number): Promise<T> {
    if (this.closed) throw new AgentUnavailable('the VM has stopped');
    if (Date.now() >= deadline) throw new AgentUnavailable(`the guest agent was busy until the ${command} deadline`);
    if (!this.ready) {
      this.ready = this.open(Math.min(deadline, Date.now() + SYNC_MS));
      this.ready.catch(noop);
    }
    await this.ready;
    if (!this.socket) throw new AgentUnavailable('the guest agent channel closed');
    this.socket.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + '\n');
    const reply = parse(await this.readLine(deadline, command));
    if (!reply) {
      const err = new AgentUnavailable(`the guest agent sent a line that is not JSON in reply to ${command}`);
      this.drop(err);
      throw err;
    }
    if (reply.error) throw new AgentCommandError(reply.error.class ?? 'GenericError', reply.error.desc ?? `${command} failed`);
    return reply.return as T;
  }

  /** Connects and resynchronises: replies left over from earlier clients are skipped. */
  private async open(deadline: number): Promise<void> {
    const socket = net.createConnection(this.path);
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('close', () => this.socket === socket && this.drop(new AgentUnavailable('the guest agent channel closed')));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(silent('connect', null)), Math.max(deadline - Date.now(), 0));
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(new AgentUnavailable(`cannot reach the guest agent channel: ${err.message}`));
        });
      });
      socket.on('error', noop);
      const id = randomInt(1, 2 ** 31 - 1);
      this.syncing = true;
      socket.write(Buffer.concat([Buffer.from([DELIMITER]), Buffer.from(JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id } }) + '\n')]));
      for (;;) {
        const reply = parse(await this.readLine(deadline, 'guest-sync-delimited'));
        if (reply?.return === id) break;
      }
      this.syncing = false;
    } catch (err) {
      if (this.socket === socket) this.drop(err as Error);
      throw err;
    }
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    // A sync reply starts with 0xFF (never part of UTF-8 JSON): whatever came before it is stale.
    const at = chunk.lastIndexOf(DELIMITER);
    if (at >= 0) {
      if (this.syncing) {
        this.pending = [];
        this.pendingSize = 0;
        this.lines.length = 0;
      }
      chunk = Buffer.from(chunk.filter((b) => b !== DELIMITER));
    }
    let nl: number;
    while ((nl = chunk.indexOf(0x0a)) >= 0) {
      this.pending.push(chunk.subarray(0, nl));
      const line = Buffer.concat(this.pending).toString('utf8').trim();
      this.pending = [];
      this.pendingSize = 0;
      chunk = chunk.subarray(nl + 1);
      if (line) this.lines.push(line);
    }
    this.pending.push(chunk);
    this.pendingSize += chunk.length;
    if (this.pendingSize > MAX_REPLY) {
      this.drop(new AgentUnavailable(`a guest agent reply exceeded ${MAX_REPLY} bytes`));
      return;
    }
    while (this.reader && this.lines.length) {
      const r = this.reader;
      this.reader = null;
      r.resolve(this.lines.shift()!);
    }
    if (this.lines.length > MAX_UNREAD_LINES) this.drop(new AgentUnavailable('the guest agent sent lines nobody asked for'));
  }

  private readLine(deadline: number, command: string): Promise<string> {
    if (this.lines.length) return Promise.resolve(this.lines.shift()!);
    if (!this.socket) return Promise.reject(new AgentUnavailable('the guest agent channel closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.drop(silent(command, null)), Math.max(deadline - Date.now(), 0));
      this.reader = {
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
    });
  }

  /** Closes the connection: QEMU discards what the agent has not read, the next call reconnects. */
  private drop(err: Error): void {
    this.socket?.destroy();
    this.socket = null;
    this.ready = null;
    this.syncing = false;
    this.pending = [];
    this.pendingSize = 0;
    this.lines.length = 0;
    const r = this.reader;
    this.reader = null;
    r?.reject(err);
  }

  /** The deadline passed: kill the program, collect what it wrote so far, report it timed out. */
  private async killLate(pid: number): Promise<ExecResult> {
    const late: ExecResult = { exitcode: null, stdout: '', stderr: '', timedOut: true, truncated: false };
    try {
      const kill = await this.call<{ pid: number }>('guest-exec', { path: 'kill', arg: ['-9', String(pid)] }, KILL_MS);
      const st = await this.call<ExecStatus | null>('guest-exec-status', { pid }, KILL_MS);
      // The agent keeps an exited program's status until it is read: read the kill's, in passing.
      this.call('guest-exec-status', { pid: kill?.pid }, KILL_MS).catch(noop);
      return st?.exited ? result(st, true) : late;
    } catch {
      return late;
    }
  }
}

function silent(command: string, timeoutMs: number | null): AgentUnavailable {
  return new AgentUnavailable(`the guest agent does not answer (${command}${timeoutMs === null ? '' : `, ${timeoutMs} ms`})`);
}

function parse(line: string): Reply | null {
  try {
    const v = JSON.parse(line);
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

function result(st: ExecStatus, timedOut: boolean): ExecResult {
  const out = decode(st['out-data']);
  const err = decode(st['err-data']);
  return {
    exitcode: timedOut ? null : Number.isInteger(st.exitcode) ? st.exitcode! : Number.isInteger(st.signal) ? 128 + st.signal! : null,
    stdout: out.text,
    stderr: err.text,
    timedOut,
    truncated: out.cut || err.cut || !!st['out-truncated'] || !!st['err-truncated'],
  };
}

function decode(b64: unknown): { text: string; cut: boolean } {
  const bytes = Buffer.from(typeof b64 === 'string' ? b64 : '', 'base64');
  return { text: bytes.subarray(0, MAX_OUTPUT).toString('utf8'), cut: bytes.length > MAX_OUTPUT };
}
