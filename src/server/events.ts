import type { Grants, Permission } from '../store/permissions.js';
import { holds } from '../store/permissions.js';
import { badRequest, forbidden } from './errors.js';
import { textFrame } from './ws-frame.js';

export interface EventType {
  /** What a subscriber must hold to receive this type at all. */
  permission: Permission;
  /** For group-owned events (vm): the group, so each subscriber only sees its own groups. */
  gidOf?: (args: Record<string, unknown>) => string | undefined;
}

export interface Subscriber {
  grants: Grants;
  /** Bytes queued towards the peer and not yet taken by the kernel. */
  bufferedAmount(): number;
  /** A complete WebSocket frame (see ws-frame.ts), built once and shared by every subscriber. */
  sendFrame(frame: Buffer): void;
  isOpen(): boolean;
  /** Cut off a peer that stopped reading. */
  drop(reason: string): void;
}

/** `args` as published; `seq` and `time` join them in the frame. */
interface Journaled { seq: number; type: string; args: Record<string, unknown>; at: number; frame: Buffer | null }

interface Ring { items: Journaled[]; start: number; droppedUpTo: number }

export interface SubscribeResult { subscribed: string[]; seq: number; gap?: boolean; replayed?: number }

/**
 * The daemon-wide event stream: one `seq` counter, a bounded journal per event type (so a flood of
 * one type never pushes another out of reach of a reconnecting client), and fan-out that serialises
 * each event once and drops subscribers whose socket buffer passes `maxBuffered`.
 */
export class EventHub {
  private seqNo = 0;
  private readonly types = new Map<string, EventType>();
  private readonly rings = new Map<string, Ring>();
  private readonly subs = new Map<Subscriber, Set<string>>();

  constructor(
    private readonly journalSize: number,
    private readonly maxBuffered: number,
  ) {}

  get seq(): number {
    return this.seqNo;
  }

  defineType(name: string, type: EventType): void {
    this.types.set(name, type);
    this.rings.set(name, { items: [], start: 0, droppedUpTo: 0 });
  }

  typeNames(): string[] {
    return [...this.types.keys()];
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
      if (wanted.has(type) && holds(sub.grants, def.permission, gid)) this.deliver(sub, frameOf(e));
    }
    return seq;
  }

  /**
   * Checks `types` and answers at once; `activate` (run after the reply is sent) adds them to the
   * subscriber's set and sends every journaled event after `since` (or after the reply's `seq`),
   * so replayed and live events arrive in seq order with nothing lost in between.
   */
  subscribe(sub: Subscriber, types: string[], since?: number): { result: SubscribeResult; activate: () => void } {
    for (const t of types) {
      const def = this.types.get(t);
      if (!def) throw badRequest(`unknown event type '${t}'`, [{ path: '/events', message: `known types: ${this.typeNames().join(', ')}` }]);
      if (!holds(sub.grants, def.permission)) throw forbidden(`event type '${t}' needs permission ${def.permission}`);
    }
    const already = this.subs.get(sub) ?? new Set<string>();
    const result: SubscribeResult = { subscribed: [...new Set([...already, ...types])], seq: this.seqNo };
    const from = since ?? this.seqNo;
    if (since !== undefined) {
      result.gap = types.some((t) => this.rings.get(t)!.droppedUpTo > since);
      result.replayed = this.journaled(sub, types, since).length;
    }
    const activate = () => {
      if (!sub.isOpen()) return;
      const fresh = types.filter((t) => !already.has(t));
      const missed = this.journaled(sub, since === undefined ? fresh : types, from);
      let wanted = this.subs.get(sub);
      if (!wanted) this.subs.set(sub, (wanted = new Set()));
      for (const t of types) wanted.add(t);
      for (const e of missed) if (!this.deliver(sub, frameOf(e))) return;
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
    if (wanted.size === 0) this.subs.delete(sub);
    return [...wanted];
  }

  isSubscribed(sub: Subscriber): boolean {
    return this.subs.has(sub);
  }

  private deliver(sub: Subscriber, frame: Buffer): boolean {
    if (sub.bufferedAmount() > this.maxBuffered) {
      this.subs.delete(sub);
      sub.drop(`subscriber dropped: more than ${this.maxBuffered} bytes unread`);
      return false;
    }
    sub.sendFrame(frame);
    return true;
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
