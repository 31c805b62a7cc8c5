import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { parseListen } from '../core/config.js';
import { CLOSE, Connection } from './connection.js';
import { originAllowed, ownOrigins } from './origins.js';
import { handleRest, refuse } from './rest.js';
import { RpcError, StartupError } from '../core/errors.js';
import type { DaemonServices as Services } from './services.js';
import { setTimeout as sleep } from 'node:timers/promises';

// What an administrator can act on, for the errors a listen() commonly meets.
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the address is in use (another hyved, or another program, listens there)',
  EADDRNOTAVAIL: 'no such address on this host',
  EACCES: 'permission denied (ports below 1024 need root)',
};

// Frames past max_frame_bytes get a 413 reply; only beyond this multiple is the connection closed.
const HARD_FRAME_FACTOR = 4;

/** One HTTP(S) server carrying the REST shim and the WebSocket endpoint. */
export class Transport {
  readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private allowedOrigins = new Set<string>();
  private readonly restInFlight = new Map<http.ServerResponse, http.IncomingMessage>();
  // Set by close(): what requests arriving from then on are answered with.
  private refusal: RpcError | null = null;
  url = '';

  constructor(private readonly services: Services) {
    const { config } = services;
    const onRequest: http.RequestListener = (req, res) => {
      if (this.refusal) return refuse(req, res, this.refusal);
      this.restInFlight.set(res, req);
      handleRest(req, res, services)
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
    this.server.requestTimeout = 60_000;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.max_frame_bytes * HARD_FRAME_FACTOR,
      // Invalid UTF-8 gets an error reply from the connection rather than ws's silent close.
      skipUTF8Validation: true,
      perMessageDeflate: false,
    });
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
    for (const [res, req] of this.restInFlight) refuse(req, res, late);
    this.restInFlight.clear();
    for (const c of this.connections) {
      c.answerUnfinished(late);
      c.close(CLOSE.shutdown, 'daemon shutting down');
    }
    this.server.closeIdleConnections();
    await Promise.race([closed, sleep(1000)]);
    this.server.closeAllConnections();
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
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new Connection(ws, this.services, req.socket.remoteAddress ?? '');
      // The upgrade began before close() and finished after it.
      if (this.refusal) conn.refuseNew(this.refusal);
      this.connections.add(conn);
      ws.on('close', () => this.connections.delete(conn));
    });
  }
}
