import { randomBytes } from 'node:crypto';

/** What a console ticket lets its bearer open, and on whose behalf. */
export interface TicketGrant {
  vmid: string;
  kind: 'serial' | 'vnc';
  write: boolean;
  user: string;
  /** The WebSocket session that asked, so the console ends with it; null over REST. */
  session: string | null;
  /** VNC: let other clients stay connected; take the display from the one holding it. */
  shared: boolean;
  takeover: boolean;
}

/** Bounds memory when tickets are asked for and never used. */
const MAX_LIVE = 10_000;

/**
 * Single-use, short-lived tickets: a browser cannot put an Authorization header on a WebSocket,
 * so it asks for a ticket over its signed-in connection and puts that in the console URL.
 */
export class Tickets {
  private readonly live = new Map<string, { grant: TicketGrant; expires: number }>();

  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  issue(grant: TicketGrant): { ticket: string; expires_s: number } {
    this.sweep();
    if (this.live.size >= MAX_LIVE) this.live.delete(this.live.keys().next().value!);
    const ticket = randomBytes(24).toString('base64url');
    this.live.set(ticket, { grant, expires: this.now() + this.ttlMs });
    return { ticket, expires_s: this.ttlMs / 1000 };
  }

  /** The grant, once: a used, unknown or expired ticket gives null. */
  redeem(ticket: string): TicketGrant | null {
    const t = this.live.get(ticket);
    if (!t) return null;
    this.live.delete(ticket);
    return t.expires > this.now() ? t.grant : null;
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, v] of this.live) if (v.expires <= t) this.live.delete(k);
  }
}
