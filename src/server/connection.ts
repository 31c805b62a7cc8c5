import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import type { WebSocket, RawData } from 'ws';
import type { Config } from '../core/config.js';
import type { UserRecord } from '../store/users.js';
import type { ConnectionHandle } from '../classes/context.js';
import { RpcError, badRequest, unauthorized } from '../core/errors.js';
import { errorFrame, parseEnvelope, responseFrame } from './envelope.js';
import type { Subscriber } from '../core/events.js';
import type { Request } from './router.js';
import { execute } from './execute.js';
import type { DaemonServices as Services } from './services.js';
import { sessionKey, type EndReason, type Session } from './sessions.js';

/** Close codes sent to clients. */
export const CLOSE = { idle: 4000, signIn: 4001, slow: 4008, shutdown: 1001, tooBig: 1009 } as const;

// Frames past max_frame_bytes get a 413 reply; only beyond this multiple is the connection closed.
const HARD_FRAME_FACTOR = 4;

/**
 * The largest frame ws takes in before closing with 1009: ws buffers a frame whole before
 * announcing it, so this, not max_frame_bytes, is what a connection can make the daemon hold.
 */
export function frameLimit(config: Config, signedIn: boolean): number {
  const hard = config.max_frame_bytes * HARD_FRAME_FACTOR;
  return signedIn ? hard : Math.min(hard, config.connections.pre_auth_frame_bytes);
}

// Most event bytes held back while corked: far below any sensible events.max_buffered_bytes.
const CORK_BYTES = 8 * 1024;

// Pipelined requests beyond this wait in the socket: a flood cannot pile up handlers in memory.
const MAX_IN_FLIGHT = 64;

const NO_GRANTS = { admin: false, perms: {} };

/**
 * One WebSocket client: its session, its event subscription, its idle timer, and the request loop
 * that guarantees one reply per parseable frame. When the session ends other than by this
 * connection's own auth_clear (idled out, account changed or deleted, auth_clear elsewhere), the
 * connection stays open, loses its subscriptions and is told by an error frame with id "" and
 * code 401; events stop at once, as the subscriber's grants are those of a live session only.
 */
export class Connection implements ConnectionHandle {
  sessionKey: string | null = null;
  readonly subscriber: Subscriber;
  private user: UserRecord | null = null;
  private session: Session | null = null;
  // Why the last session ended, if it was not signed out here: what the next request is told.
  private endedBecause: string | null = null;
  // Requests not yet replied to; a reply is sent only by the one who removes its request.
  private readonly unanswered = new Set<Request>();
  // Set once the daemon is stopping: later requests get this at once.
  private refusal: RpcError | null = null;
  private paused = false;
  private lastHeard = Date.now();
  private idleTimer: NodeJS.Timeout | null = null;
  private signInTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private corked = false;
  private readonly socket: Socket;
  private corkedBytes = 0;
  // Settles when the last session-changing request (auth, auth_clear...) has replied.
  private barrier: Promise<void> = Promise.resolve();

  constructor(
    private readonly ws: WebSocket,
    private readonly services: Services,
    readonly remoteAddress: string,
  ) {
    // ws exposes no public handle on it; ws sets it before a server-side connection is announced.
    this.socket = (ws as unknown as { _socket: Socket })._socket;
    const self = this;
    const sessions = services.auth.sessions;
    this.subscriber = {
      get grants() {
        const s = self.session;
        return s && self.user && sessions.isLive(s) ? self.user : NO_GRANTS;
      },
      bufferedAmount: () => ws.bufferedAmount,
      isOpen: () => ws.readyState === ws.OPEN,
      sendFrame: (frame) => this.sendFrame(frame),
      whenDrained: (resume) => {
        if (this.socket.writableNeedDrain) this.socket.once('drain', resume);
        else setImmediate(resume);
      },
      drop: (reason) => {
        services.log.warn(`closing connection from ${remoteAddress}: ${reason}`);
        // A peer that stopped reading will not read a close frame either.
        ws.terminate();
      },
    };
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('pong', () => (this.lastHeard = Date.now()));
    ws.on('close', () => this.cleanup());
    ws.on('error', (err) => services.log.debug(`websocket error from ${remoteAddress}: ${err.message}`));
    const idleS = services.config.ws_idle_timeout_s;
    if (idleS > 0) {
      const period = Math.max(250, (idleS * 1000) / 4);
      this.idleTimer = setInterval(() => this.checkIdle(idleS * 1000), period);
      this.idleTimer.unref();
    }
    this.awaitSignIn(true);
  }

  signIn(token: string, user: UserRecord): void {
    this.release();
    const key = sessionKey(token);
    this.session = this.services.auth.sessions.watch(key, this.onSessionEnd);
    if (!this.session) return;
    this.sessionKey = key;
    this.user = user;
    this.awaitSignIn(false);
  }

  signOut(): void {
    this.release();
    this.services.events.unsubscribe(this.subscriber);
    this.awaitSignIn(true);
  }

  /**
   * Until it signs in, a connection gets small frames and limited time: anyone who can reach the
   * port can open one, so what it may hold must be small (a 4 MiB frame each held +395 MiB for 100).
   */
  private awaitSignIn(waiting: boolean): void {
    // ws reads its receiver's limit afresh for every frame and has no public way to change it.
    (this.ws as unknown as { _receiver: { _maxPayload: number } })._receiver._maxPayload = frameLimit(this.services.config, !waiting);
    if (this.signInTimer) clearTimeout(this.signInTimer);
    this.signInTimer = null;
    const limitS = this.services.config.connections.sign_in_timeout_s;
    if (!waiting || limitS === 0) return;
    this.signInTimer = setTimeout(() => {
      this.services.log.info(`closing connection from ${this.remoteAddress}: not signed in within ${limitS} s`);
      this.close(CLOSE.signIn, 'sign-in timeout');
    }, limitS * 1000);
    this.signInTimer.unref();
  }

  private release(): void {
    if (this.session) this.services.auth.sessions.unwatch(this.session, this.onSessionEnd);
    this.session = null;
    this.sessionKey = null;
    this.user = null;
    this.endedBecause = null;
  }

  private readonly onSessionEnd = (reason: EndReason): void => {
    const ended = this.session;
    // Told on the next turn: an auth_clear on this connection signs out right after ending the session, and is not told.
    setImmediate(() => {
      if (this.session !== ended || this.closed) return;
      this.signOut();
      this.endedBecause = `session expired (${reason === 'account changed' ? 'the account was changed or removed' : reason}): authenticate again`;
      this.send(errorFrame('rpc', '', unauthorized(this.endedBecause)));
    });
  };

  /** Resolves the session user for the router, 401 when there is none or it idled out. */
  async authenticate(): Promise<UserRecord> {
    const key = this.sessionKey;
    if (!key) throw unauthorized(this.endedBecause ?? 'not authenticated: call rpc/auth first');
    let user: UserRecord;
    try {
      user = await this.services.auth.session(key);
    } catch (err) {
      // Unless an auth meanwhile put another session in its place.
      if (this.sessionKey === key) this.signOut();
      throw err;
    }
    if (this.sessionKey === key) this.user = user;
    return user;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason);
  }

  /** Daemon shutdown begins: requests from now on are answered with `error` without being run. */
  refuseNew(error: RpcError): void {
    this.refusal = error;
  }

  /** Daemon shutdown's grace period is over: every request still unanswered gets `error` now. */
  answerUnfinished(error: RpcError): void {
    for (const req of this.unanswered) this.send(errorFrame(req.namespace, req.id, error));
    this.unanswered.clear();
  }

  private send(reply: string): void {
    this.write(reply.length, () => this.ws.send(reply, { binary: false }));
  }

  /**
   * An event, framed once for every subscriber, goes to the socket as it is. Without compression
   * ws writes each message whole and at once, so nothing can interleave with it.
   */
  private sendFrame(frame: Buffer): void {
    this.write(frame.length, () => this.socket.write(frame));
  }

  /**
   * Every reply and event goes through here. A peer that sends but never reads (error replies to
   * 7-byte garbage frames took a daemon to +1.1 GiB in 50 s) is cut off at the subscribers' bound.
   */
  private write(bytes: number, put: () => void): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.batch();
    put();
    this.batched(bytes);
    const bound = this.services.config.events.max_buffered_bytes;
    if (this.ws.bufferedAmount > bound) this.subscriber.drop(`more than ${bound} bytes unread`);
  }

  /**
   * Replies and events are batched per event-loop turn: the socket is corked on the first frame
   * and uncorked on the next turn (or once 8 KiB wait), so a burst costs one write instead of one
   * per frame. Measured: events 7.6 -> 1.9 us of daemon CPU per delivery (0.54 once framed only
   * once); one writev per reply was 30% of the daemon's time under pipelined load.
   */
  private batch(): void {
    if (this.corked) return;
    this.corked = true;
    this.corkedBytes = 0;
    this.socket.cork();
    setImmediate(() => this.uncork());
  }

  private batched(bytes: number): void {
    this.corkedBytes += bytes;
    if (this.corkedBytes > CORK_BYTES) this.uncork();
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    this.lastHeard = Date.now();
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) return this.send(errorFrame('rpc', '', badRequest('binary frames are not accepted: send JSON text')));
    if (buf.length > this.services.config.max_frame_bytes) {
      return this.send(errorFrame('rpc', '', new RpcError(413, `frame of ${buf.length} bytes exceeds max_frame_bytes ${this.services.config.max_frame_bytes}`)));
    }
    if (!isUtf8(buf)) return this.send(errorFrame('rpc', '', badRequest('frame is not valid UTF-8')));
    const parsed = parseEnvelope(buf.toString('utf8'));
    if (!parsed.ok) return this.send(errorFrame(parsed.namespace, parsed.id, parsed.error));
    const req = parsed.req;
    if (this.refusal) return this.send(errorFrame(req.namespace, req.id, this.refusal));
    this.unanswered.add(req);
    if (this.unanswered.size >= MAX_IN_FLIGHT && !this.paused) {
      this.paused = true;
      this.ws.pause();
    }
    const run = () => {
      // Answered by the shutdown while it waited behind a barrier: the client was told it did not finish.
      if (!this.unanswered.has(req)) return;
      return execute(this.services, req, { remoteAddress: this.remoteAddress, connection: this, authenticate: () => this.authenticate() }, 'ws')
        .then((reply) => {
          if (!this.unanswered.delete(req)) return;
          if (reply.error) this.send(errorFrame(req.namespace, req.id, reply.error));
          else this.send(responseFrame(req.namespace, req.id, reply.args));
        })
        .catch((err) => {
          this.services.log.error(`reply to ${this.remoteAddress} failed: ${(err as Error).stack}`);
        })
        .finally(() => this.afterReply());
    };
    if (this.services.router.isBarrier(req)) this.barrier = this.barrier.then(run);
    else void this.barrier.then(run);
  }

  private afterReply(): void {
    if (this.paused && this.unanswered.size < MAX_IN_FLIGHT / 2) {
      this.paused = false;
      this.ws.resume();
    }
  }

  private checkIdle(limitMs: number): void {
    const quiet = Date.now() - this.lastHeard;
    if (quiet >= limitMs) {
      this.services.log.info(`closing idle connection from ${this.remoteAddress}`);
      this.close(CLOSE.idle, 'idle timeout');
      return;
    }
    // Subscribers may legitimately only listen: a ping answered by a pong (browsers do this
    // themselves) counts as a sign of life for them.
    if (this.services.events.isSubscribed(this.subscriber) && quiet >= limitMs / 2) this.ws.ping();
  }

  private cleanup(): void {
    this.closed = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    if (this.signInTimer) clearTimeout(this.signInTimer);
    this.release();
    this.services.events.unsubscribe(this.subscriber);
  }

  get pending(): number {
    return this.unanswered.size;
  }
}
