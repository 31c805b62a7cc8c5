import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { parseListen } from '../core/config.js';
import { CLOSE, Connection } from './connection.js';
import { originAllowed, ownOrigins } from './origins.js';
import { handleRest } from './rest.js';
import type { DaemonServices as Services } from './services.js';
import { setTimeout as sleep } from 'node:timers/promises';

// Frames past max_frame_bytes get a 413 reply; only beyond this multiple is the connection closed.
const HARD_FRAME_FACTOR = 4;

/** One HTTP(S) server carrying the REST shim and the WebSocket endpoint. */
export class Transport {
  readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private allowedOrigins = new Set<string>();
  private inFlightRest = 0;
  url = '';

  constructor(private readonly services: Services) {
    const { config } = services;
    const onRequest: http.RequestListener = (req, res) => {
      this.inFlightRest++;
      handleRest(req, res, services)
        .catch((err) => {
          services.log.error(`REST ${req.method} ${req.url} failed: ${(err as Error).stack}`);
          if (!res.headersSent) res.writeHead(500).end();
        })
        .finally(() => this.inFlightRest--);
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
    const { host, port } = parseListen(this.services.config.listen);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
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

  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes every client. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = Date.now() + graceMs;
    const busy = () => this.inFlightRest > 0 || [...this.connections].some((c) => c.pending > 0);
    while (busy() && Date.now() < deadline) await sleep(20);
    for (const c of this.connections) c.close(CLOSE.shutdown, 'daemon shutting down');
    this.server.closeIdleConnections();
    await Promise.race([closed, sleep(1000)]);
    this.server.closeAllConnections();
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const origin = req.headers.origin;
    if (!originAllowed(origin, this.allowedOrigins)) {
      this.services.log.warn(`refused WebSocket from ${req.socket.remoteAddress}: origin ${JSON.stringify(origin)} not allowed`);
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\norigin not allowed\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new Connection(ws, this.services, req.socket.remoteAddress ?? '');
      this.connections.add(conn);
      ws.on('close', () => this.connections.delete(conn));
    });
  }
}
