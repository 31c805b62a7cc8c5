import { nanoid } from 'nanoid';
import { conflict } from '../core/errors.js';
import type { Inspection } from '../core/inspection.js';

/**
 * What a store's upload action (`sysadm/image/upload`, `sysadm/iohyve/uploadiso`, `sysadm/dist/upload`)
 * decided, once it had checked the caller, the name and the permission: the HTTP transport
 * (server/upload.ts) streams the body into `temp`, bounded by `max_bytes`, then calls `commit`.
 */
export interface UploadPlan<T = unknown> {
  /** A hidden file in the store, named by `uploadTemp`, so a stop part way leaves debris start-up removes. */
  temp: string;
  /** What is being uploaded, for the log: `ISO 'x.iso'`. */
  what: string;
  inspect?: () => Inspection<T>;
  /** Checks the complete file and moves it into place: the 201's args. Nothing is stored when it throws (the caller removes `temp`). */
  commit(inspected: T | undefined): Promise<Record<string, unknown>>;
}

/** Reserved uploads not yet streamed: a client reserving in a loop cannot grow the table without bound. */
const MAX_PENDING = 64;
const TTL_MS = 600_000;

/** Upload plans from the reservation (through the router) to the HTTP transport that streams the body. */
export class UploadSlots {
  private readonly slots = new Map<string, { plan: UploadPlan; expires: number }>();

  open<T>(plan: UploadPlan<T>): string {
    const now = Date.now();
    for (const [k, u] of this.slots) if (u.expires < now) this.slots.delete(k);
    if (this.slots.size >= MAX_PENDING) throw conflict(`${MAX_PENDING} uploads are already reserved and not finished: try again later`, 'busy');
    const id = nanoid();
    this.slots.set(id, { plan: plan as UploadPlan, expires: now + TTL_MS });
    return id;
  }

  take(id: string): UploadPlan | null {
    const u = this.slots.get(id);
    this.slots.delete(id);
    return u && u.expires >= Date.now() ? u.plan : null;
  }
}
