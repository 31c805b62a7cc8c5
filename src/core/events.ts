import type { Grants, Permission } from './permissions.js';
import { holds } from './permissions.js';
import { forbidden } from './errors.js';
import { textFrame } from './ws-frame.js';

export interface EventType {
  /** What a subscriber must hold to receive this type at all. */
  permission: Permission;
  /** For group-owned events (vm): the group, so each subscriber only sees its own groups. */
  gidOf?: (args: Record<string, unknown>) => string | undefined;
}

export interface Subscriber {
  /**
   * What the subscriber holds now, read at every delivery (so it must cost next to nothing): a
   * subscription follows its session's life and rights, not those it was made with.
   */
  grants: Grants;
  /** Bytes queued towards the peer and not yet taken by the kernel. */
  bufferedAmount(): number;
  /** A complete WebSocket frame (see ws-frame.ts), built once and shared by every subscriber. */
  sendFrame(frame: Buffer): void;
  isOpen(): boolean;
  /** Cut off a peer that stopped reading. */
  drop(reason: string): void;
  /** Calls `resume` once the peer has taken what is buffered for it. */
  whenDrained(resume: () => void): void;
}

/** `args` as published; `seq` and `time` join them in the frame. */
interface Journaled { seq: number; type: string; args: Record<string, unknown>; at: number; frame: Buffer | null }

interface Ring { items: Journaled[]; start: number; droppedUpTo: number }

/** A replay being sent as the socket takes it; live events for that subscriber queue behind it. */
interface Backlog { events: Journaled[]; next: number; live: number }

export interface SubscribeResult { subscribed: string[]; ignored?: string[]; seq: number; gap?: boolean; replayed?: number }

/**
 * The daemon-wide event stream: one `seq` counter, a bounded journal per event type (so a flood of
 * one type never pushes another out of reach of a reconnecting client), and fan-out that serialises
 * each event once and drops subscribers whose socket buffer passes `maxBuffered`.
 */
export class EventHub {
  /**
   * Where this daemon's seq starts: its start time in ms × 1000, so that seq keeps increasing
   * across restarts (unless a daemon published over 1,000 events per ms on average) and a
   * `since` from before a restart always finds the journal short of it: gap, never a silent miss.
   */
  private readonly base = Date.now() * 1000;
  private seqNo = this.base;
  private readonly types = new Map<string, EventType>();
  private readonly rings = new Map<string, Ring>();
  private readonly subs = new Map<Subscriber, Set<string>>();
  private readonly backlogs = new Map<Subscriber, Backlog>();

  constructor(
    private readonly journalSize: number,
    private readonly maxBuffered: number,
  ) {}

  get seq(): number {
    return this.seqNo;
  }

  defineType(name: string, type: EventType): void {
    this.types.set(name, type);
    this.rings.set(name, { items: [], start: 0, droppedUpTo: this.base });
  }

  /** `args` must be a fresh object: the journal keeps it as it is. */
  publish(type: string, args: Record<string, unknown>): number {
    const def = this.types.get(type);
    if (!def) throw new Error(`event type '${type}' is not defined`);
    const seq = ++this.seqNo;
    const e: Journaled = { seq, type, args, at: Date.now(), frame: null };
    this.remember(type, e);
    const gid = def.gidOf?.(e.args);
    for (const [sub, wanted] of this.subs) {
      if (!wanted.has(type) || !holds(sub.grants, def.permission, gid)) continue;
      const backlog = this.backlogs.get(sub);
      if (!backlog) this.deliver(sub, frameOf(e));
      else if (++backlog.live > this.journalSize) this.cutOff(sub, `subscriber dropped: more than ${this.journalSize} events behind its replay`);
      else backlog.events.push(e);
    }
    return seq;
  }

  /**
   * Checks `types` and answers at once; `activate` (run after the reply is sent) adds them to the
   * subscriber's set and sends every journaled event after `since` (or after the reply's `seq`),
   * so replayed and live events arrive in seq order with nothing lost in between.
   */
  subscribe(sub: Subscriber, asked: string[], since?: number): { result: SubscribeResult; activate: () => void } {
    // sysadm skips types it does not publish (its Qt client asks for system-state and others at
    // sign-in); so do we, saying which, rather than refusing the whole request.
    const types = asked.filter((t) => this.types.has(t));
    const ignored = asked.filter((t) => !this.types.has(t));
    for (const t of types) {
      const def = this.types.get(t)!;
      if (!holds(sub.grants, def.permission)) throw forbidden(`event type '${t}' needs permission ${def.permission}`);
    }
    const already = this.subs.get(sub) ?? new Set<string>();
    const result: SubscribeResult = { subscribed: [...new Set([...already, ...types])], seq: this.seqNo };
    if (ignored.length) result.ignored = ignored;
    const from = since ?? this.seqNo;
    if (since !== undefined) {
      // since 0: a client that has seen nothing yet; only this daemon's own losses are a gap to it.
      const seen = since === 0 ? this.base : since;
      result.gap = types.some((t) => this.rings.get(t)!.droppedUpTo > seen);
      result.replayed = this.journaled(sub, types, since).length;
    }
    const activate = () => {
      if (!sub.isOpen()) return;
      // The session may have ended (or its rights changed) since the reply was sent.
      const granted = types.filter((t) => holds(sub.grants, this.types.get(t)!.permission));
      const fresh = granted.filter((t) => !already.has(t));
      if (granted.length === 0) return;
      const missed = this.journaled(sub, since === undefined ? fresh : granted, from);
      let wanted = this.subs.get(sub);
      if (!wanted) this.subs.set(sub, (wanted = new Set()));
      for (const t of granted) wanted.add(t);
      if (missed.length === 0) return;
      this.backlogs.set(sub, { events: missed, next: 0, live: 0 });
      this.pump(sub);
    };
    return { result, activate };
  }

  private journaled(sub: Subscriber, types: string[], after: number): Journaled[] {
    return types
      .flatMap((t) => this.rings.get(t)!.items.filter((e) => e.seq > after))
      .filter((e) => {
        const def = this.types.get(e.type)!;
        return holds(sub.grants, def.permission, def.gidOf?.(e.args));
      })
      .sort((a, b) => a.seq - b.seq);
  }

  unsubscribe(sub: Subscriber, types?: string[]): string[] {
    const wanted = this.subs.get(sub);
    if (!wanted) return [];
    for (const t of types ?? [...wanted]) wanted.delete(t);
    if (wanted.size === 0) {
      this.subs.delete(sub);
      this.backlogs.delete(sub);
    }
    return [...wanted];
  }

  isSubscribed(sub: Subscriber): boolean {
    return this.subs.has(sub);
  }

  private deliver(sub: Subscriber, frame: Buffer): void {
    if (sub.bufferedAmount() > this.maxBuffered) this.cutOff(sub, `subscriber dropped: more than ${this.maxBuffered} bytes unread`);
    else sub.sendFrame(frame);
  }

  /**
   * Sends a replay as fast as the peer reads it. The bound on unread bytes is for peers that
   * stopped reading; a replay the peer asked for can be far larger than the bound (the fuzzer's
   * `since: 0` on a full journal cut a healthy client off), so it waits for the socket instead.
   */
  private pump(sub: Subscriber): void {
    const backlog = this.backlogs.get(sub);
    if (!backlog) return;
    while (backlog.next < backlog.events.length) {
      if (!sub.isOpen()) break;
      if (sub.bufferedAmount() > this.maxBuffered / 2) return sub.whenDrained(() => this.pump(sub));
      const e = backlog.events[backlog.next++];
      if (this.subs.get(sub)?.has(e.type)) sub.sendFrame(frameOf(e));
    }
    this.backlogs.delete(sub);
  }

  private cutOff(sub: Subscriber, reason: string): void {
    this.subs.delete(sub);
    this.backlogs.delete(sub);
    sub.drop(reason);
  }

  private remember(type: string, e: Journaled): void {
    if (this.journalSize === 0) {
      this.rings.get(type)!.droppedUpTo = e.seq;
      return;
    }
    const ring = this.rings.get(type)!;
    // A ring buffer: `start` marks the oldest slot once the array is full.
    if (ring.items.length < this.journalSize) {
      ring.items.push(e);
    } else {
      ring.droppedUpTo = ring.items[ring.start].seq;
      ring.items[ring.start] = e;
      ring.start = (ring.start + 1) % this.journalSize;
    }
  }
}

/**
 * An event's frame, encoded on first delivery and then shared: most `audit` events (one per
 * request) reach no subscriber at all, and encoding them anyway was 18% of the daemon's CPU under load.
 */
function frameOf(e: Journaled): Buffer {
  e.frame ??= textFrame(Buffer.from(JSON.stringify({ namespace: 'events', name: e.type, id: '', args: { ...e.args, seq: e.seq, time: new Date(e.at).toISOString() } })));
  return e.frame;
}
