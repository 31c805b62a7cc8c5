import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import { RpcError } from '../core/errors.js';
import { holds } from '../core/permissions.js';
import type { TicketGrant } from '../core/tickets.js';
import type { SerialConsole } from '../hypervisor/console/serial.js';
import type { DaemonServices as Services } from './services.js';

const PATHS = { '/console/serial': 'serial', '/console/vnc': 'vnc' } as const;

/** Close codes a console client can act on (4000–4999 are the application's). */
export const CONSOLE_CLOSE = { sessionEnded: 4001, takenOver: 4009, inUse: 4409 } as const;

interface VncClient { ws: WebSocket; user: string; shared: boolean }

/**
 * The console WebSockets: opened with a ticket from sysadm/console (browsers cannot send an
 * Authorization header on a WebSocket), checked again at the upgrade against the live account
 * and session, then a serial console viewer or a byte bridge to the VM's VNC server.
 */
export class ConsoleSockets {
  private readonly wss = new WebSocketServer({
    noServer: true,
    // Keystrokes and control messages; a paste larger than this is split by the client.
    maxPayload: 1 << 20,
    perMessageDeflate: false,
    // noVNC asks for 'binary'; others ask for nothing.
    handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
  });
  private readonly vnc = new Map<string, VncClient[]>();

  constructor(private readonly services: Services) {}

  /** Daemon shutdown: VMs keep running; their consoles' clients are let go. */
  closeAll(): void {
    for (const ws of this.wss.clients) ws.close(1001, 'daemon shutting down');
  }

  static handles(pathname: string): boolean {
    return Object.hasOwn(PATHS, pathname);
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const kind = PATHS[url.pathname as keyof typeof PATHS];
    const grant = this.services.tickets.redeem(url.searchParams.get('ticket') ?? '');
    let open: () => void;
    try {
      if (!grant || grant.kind !== kind) throw new RpcError(403, 'console ticket unknown, used or expired: ask sysadm/console for a new one');
      const gid = this.allowed(grant);
      if (kind === 'serial') {
        const console = this.services.vms.console(grant.vmid);
        open = () => this.wss.handleUpgrade(req, socket, head, (ws) => this.serial(ws, grant, console));
      } else {
        const display = this.services.vms.display(grant.vmid);
        open = () => this.wss.handleUpgrade(req, socket, head, (ws) => this.display(ws, grant, gid, display));
      }
    } catch (err) {
      const e = err instanceof RpcError ? err : new RpcError(500, (err as Error).message);
      socket.end(`HTTP/1.1 ${e.code} ${e.code === 403 ? 'Forbidden' : 'Refused'}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${e.message}\n`);
      return;
    }
    open();
  }

  /** The account still exists and still holds what the ticket was issued for; returns the VM's group. */
  private allowed(grant: TicketGrant): string {
    const user = this.services.users.get(grant.user);
    const gid = this.services.vms.find(grant.vmid)?.def.gid;
    if (!user || gid === undefined || !holds(user, 'vm.console.view', gid) || (grant.write && !holds(user, 'vm.console.write', gid))) {
      throw new RpcError(403, 'the ticket\'s account no longer may open this console');
    }
    if (grant.session && !this.services.auth.sessions.alive(grant.session)) throw new RpcError(401, 'the session that asked for this ticket has ended');
    return gid;
  }

  /** Ends the console with the session that asked for it (sign-out, account change, idle expiry). */
  private endWithSession(ws: WebSocket, grant: TicketGrant): void {
    if (!grant.session) return;
    const sessions = this.services.auth.sessions;
    const onEnd = (reason: string) => ws.close(CONSOLE_CLOSE.sessionEnded, `session ended: ${reason}`);
    const s = sessions.watch(grant.session, onEnd);
    if (!s) return onEnd('ended');
    ws.once('close', () => sessions.unwatch(s, onEnd));
  }

  private serial(ws: WebSocket, grant: TicketGrant, console: SerialConsole): void {
    this.endWithSession(ws, grant);
    const session = console.attach({
      user: grant.user,
      mayWrite: grant.write,
      send: (data) => ws.send(data, { binary: true }),
      notice: (message) => ws.send(JSON.stringify(message)),
      buffered: () => ws.bufferedAmount,
      close: (code, reason) => ws.close(code, reason),
      cut: () => ws.terminate(),
    });
    ws.on('close', () => session.detach());
    ws.on('message', (data, isBinary) => {
      if (isBinary) return session.input(data as Buffer);
      let m: { type?: unknown; since?: unknown; cols?: unknown; rows?: unknown };
      try {
        m = JSON.parse(String(data));
      } catch {
        return ws.send(JSON.stringify({ type: 'error', message: 'a text frame must be a JSON control message' }));
      }
      const dim = (n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) <= 1000;
      if (m.type === 'replay' && typeof m.since === 'number') void session.replay(m.since);
      else if (m.type === 'resize' && dim(m.cols) && dim(m.rows)) void session.resize(m.cols as number, m.rows as number);
      else if (m.type === 'takeover') session.takeover();
      else ws.send(JSON.stringify({ type: 'error', message: 'unknown control message: send {"type":"replay","since":N}, {"type":"resize","cols":C,"rows":R} (1–1000) or {"type":"takeover"}' }));
    });
  }

  /**
   * A byte bridge to the VM's VNC server. One client at a time unless each asks to share; a
   * takeover disconnects the holders (audited). Backpressure both ways through stream pipes.
   */
  private display(ws: WebSocket, grant: TicketGrant, gid: string, display: net.NetConnectOpts): void {
    const others = this.vnc.get(grant.vmid) ?? [];
    const exclusive = !grant.shared || others.some((c) => !c.shared);
    if (others.length && exclusive) {
      if (!grant.takeover) {
        ws.close(CONSOLE_CLOSE.inUse, `display in use by ${others.map((c) => c.user).join(', ')}: ask with takeover or shared`);
        return;
      }
      for (const c of others) c.ws.close(CONSOLE_CLOSE.takenOver, `taken over by ${grant.user}`);
      this.services.events.publish('audit', { vmid: grant.vmid, gid, event: 'display-takeover', user: grant.user, from: others.map((c) => c.user) });
    }
    const me: VncClient = { ws, user: grant.user, shared: grant.shared };
    this.vnc.set(grant.vmid, [...(exclusive ? [] : others), me]);
    this.endWithSession(ws, grant);
    const vnc = net.createConnection(display);
    const stream = createWebSocketStream(ws);
    stream.pipe(vnc).pipe(stream);
    const end = () => {
      vnc.destroy();
      stream.destroy();
      const left = (this.vnc.get(grant.vmid) ?? []).filter((c) => c !== me);
      if (left.length) this.vnc.set(grant.vmid, left);
      else this.vnc.delete(grant.vmid);
    };
    vnc.on('error', (err) => {
      if (ws.readyState === ws.OPEN) ws.close(1011, `VNC server: ${err.message}`);
      end();
    });
    vnc.on('close', () => {
      if (ws.readyState === ws.OPEN) ws.close(1000, 'VNC server closed the connection (VM stopped?)');
      end();
    });
    stream.on('error', end);
    ws.on('close', end);
  }
}
