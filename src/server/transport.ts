import http from 'node:http';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { parseListen } from '../core/config.js';
import { CLOSE, Connection, frameLimit } from './connection.js';
import { ConsoleSockets } from './console-socket.js';
import { originAllowed, ownOrigins } from './origins.js';
import { Counts } from './counts.js';
import { handleRest, refuse, requestUrl } from './rest.js';
import { requestDeadline } from './request-deadline.js';
import { isUploadPath } from './upload.js';
import type { HttpFacade } from './http-facade.js';
import { RpcError, StartupError } from '../core/errors.js';
import type { DaemonServices as Services } from './services.js';
import { setTimeout as sleep } from 'node:timers/promises';

// What an administrator can act on, for the errors a listen() commonly meets.
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the address is in use (another hyved, or another program, listens there)',
  EADDRNOTAVAIL: 'no such address on this host',
  EACCES: 'permission denied (ports below 1024 need root)',
};

/**
 * The process's limit on open files (Node raised the soft limit to the hard one at start), or null
 * when unlimited or unknown.
 */
function fileLimit(): number | null {
  let text: string;
  try {
    text = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? '';
  } catch {
    // No procfs (FreeBSD): a child inherits the limit.
    try {
      text = execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  }
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** One HTTP(S) server carrying the REST shim and the WebSocket endpoint. */
export class Transport {
  readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly consoles: ConsoleSockets;
  private readonly connections = new Set<Connection>();
  private allowedOrigins = new Set<string>();
  private readonly restInFlight = new Map<http.ServerResponse, http.IncomingMessage>();
  private readonly perAddress = new Counts();
  private lastRefusalWarning = 0;
  // Set by close(): what requests arriving from then on are answered with.
  private refusal: RpcError | null = null;
  url = '';

  constructor(
    private readonly services: Services,
    private readonly facades: readonly HttpFacade[] = [],
  ) {
    const { config } = services;
    const onRequest: http.RequestListener = (req, res) => {
      if (this.refusal) return refuse(req, res, this.refusal, this.facades);
      // Web pages can send some requests without a preflight: one failing sign-ins would block every local client.
      if (!originAllowed(req.headers.origin, this.allowedOrigins)) return refuse(req, res, this.foreignOrigin(req), this.facades);
      // The path as routed (`/upload/../x` is not an upload): a request must not dodge the deadline by its spelling.
      if (!isUploadPath(requestUrl(req).pathname)) requestDeadline(req, res, config.http.request_timeout_s * 1000, (error) => refuse(req, res, error, this.facades));
      this.restInFlight.set(res, req);
      handleRest(req, res, services, this.facades)
        .catch((err) => {
          services.log.error(`REST ${req.method} ${req.url} failed: ${(err as Error).stack}`);
          if (!res.headersSent) res.writeHead(500).end();
        })
        .finally(() => this.restInFlight.delete(res));
    };
    this.server = config.tls
      ? https.createServer({ cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) }, onRequest)
      : http.createServer(onRequest);
    this.server.headersTimeout = 20_000;
    // Per request instead (requestDeadline): a streamed upload may take hours, with an idle deadline.
    this.server.requestTimeout = 0;
    // Half the file limit stays for the daemon's own files: at the limit `vm create` failed with `spawn qemu-img EMFILE`.
    const files = fileLimit();
    this.server.maxConnections = files === null ? config.connections.max : Math.min(config.connections.max, Math.floor(files / 2));
    if (this.server.maxConnections < config.connections.max) {
      services.log.info(`connections.max ${config.connections.max} lowered to ${this.server.maxConnections}: half the open-file limit (${files})`);
    }
    this.server.on('drop', (d?: { remoteAddress?: string }) => this.warnRefusal(`${this.server.maxConnections} connections open (connections.max), refused one from ${d?.remoteAddress}`));
    this.server.on('connection', (socket: Socket) => this.admit(socket));
    this.wss = new WebSocketServer({
      noServer: true,
      // Raised once the connection signs in.
      maxPayload: frameLimit(config, false),
      // Invalid UTF-8 gets an error reply from the connection rather than ws's silent close.
      skipUTF8Validation: true,
      perMessageDeflate: false,
    });
    this.consoles = new ConsoleSockets(services);
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  async listen(): Promise<string> {
    const { listen } = this.services.config;
    const { host, port } = parseListen(listen);
    await new Promise<void>((resolve, reject) => {
      const fail = (err: NodeJS.ErrnoException) => reject(new StartupError(`cannot listen on ${listen}: ${LISTEN_ERRORS[err.code ?? ''] ?? err.message}`));
      this.server.once('error', fail);
      this.server.listen(port, host, () => {
        this.server.off('error', fail);
        resolve();
      });
    });
    const bound = (this.server.address() as AddressInfo).port;
    const tls = Boolean(this.services.config.tls);
    this.allowedOrigins = new Set([...ownOrigins(host, bound, tls), ...this.services.config.origins.map((o) => o.toLowerCase())]);
    const urlHost = host.includes(':') ? `[${host}]` : host;
    this.url = `${tls ? 'https' : 'http'}://${urlHost}:${bound}`;
    return this.url;
  }

  /**
   * Stops listening, answers requests arriving on open connections with 503 at once, lets those
   * in flight finish for up to `graceMs`, answers the rest with 503, then closes every client: no
   * request is left without a reply.
   */
  async close(graceMs: number): Promise<void> {
    this.refusal = new RpcError(503, 'the daemon is shutting down: request not run');
    for (const c of this.connections) c.refuseNew(this.refusal);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = Date.now() + graceMs;
    const busy = () => this.restInFlight.size > 0 || [...this.connections].some((c) => c.pending > 0);
    while (busy() && Date.now() < deadline) await sleep(20);
    const late = new RpcError(
      503,
      `the daemon shut down before this request finished (grace period ${graceMs / 1000} s): it may have taken effect in part; VMs keep running`,
    );
    for (const [res, req] of this.restInFlight) refuse(req, res, late, this.facades);
    this.restInFlight.clear();
    this.consoles.closeAll();
    for (const c of this.connections) {
      c.answerUnfinished(late);
      c.close(CLOSE.shutdown, 'daemon shutting down');
    }
    this.server.closeIdleConnections();
    await Promise.race([closed, sleep(1000)]);
    this.server.closeAllConnections();
  }

  /** Counts connections per address, refusing those past `connections.per_address`. */
  private admit(socket: Socket): void {
    const addr = socket.remoteAddress ?? '';
    const open = this.perAddress.get(addr);
    if (open >= this.services.config.connections.per_address) {
      this.warnRefusal(`${open} connections open from ${addr} (connections.per_address), refused another`);
      socket.destroy();
      return;
    }
    this.perAddress.add(addr);
    socket.once('close', () => this.perAddress.remove(addr));
  }

  // At most one line every 10 s: a flood of refusals must not become a flood of log lines.
  private warnRefusal(message: string): void {
    if (Date.now() - this.lastRefusalWarning < 10_000) return;
    this.lastRefusalWarning = Date.now();
    this.services.log.warn(`${message} (further refusals for 10 s are not logged)`);
  }

  private foreignOrigin(req: http.IncomingMessage): RpcError {
    this.warnRefusal(`refused ${req.method} ${req.url} from ${req.socket.remoteAddress}: origin ${JSON.stringify(req.headers.origin)} not allowed`);
    return new RpcError(403, 'origin not allowed: a web page from another site may not call this daemon');
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.refusal) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\ndaemon shutting down\n');
      return;
    }
    const origin = req.headers.origin;
    if (!originAllowed(origin, this.allowedOrigins)) {
      this.services.log.warn(`refused WebSocket from ${req.socket.remoteAddress}: origin ${JSON.stringify(origin)} not allowed`);
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\norigin not allowed\n');
      return;
    }
    const url = new URL(`http://localhost${req.url?.startsWith('/') ? req.url : '/'}`);
    if (ConsoleSockets.handles(url.pathname)) return this.consoles.upgrade(req, socket, head, url);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new Connection(ws, this.services, req.socket.remoteAddress ?? '');
      // The upgrade began before close() and finished after it.
      if (this.refusal) conn.refuseNew(this.refusal);
      this.connections.add(conn);
      ws.on('close', () => this.connections.delete(conn));
    });
  }
}
