import { RpcError, forbidden } from '../../core/errors.js';
import { UserError } from '../../store/users.js';
import type { CallContext } from '../context.js';

// Shared by the rpc/settings key actions (no default export: the router loads no action from here).

/** A refused key change as the client sees it: 400, 404 or 409; other errors unchanged. */
export function refused(err: unknown): unknown {
  if (!(err instanceof UserError)) return err;
  return new RpcError(err.kind === 'not_found' ? 404 : err.kind === 'conflict' ? 409 : 400, err.message);
}

/** Whose keys a request names: the caller's own, or (admins only) another user's. */
export function targetUser(user: string | undefined, ctx: CallContext): string {
  const self = ctx.user!.username;
  if (user === undefined || user === self) return self;
  if (!ctx.user!.admin) throw forbidden("only an admin may manage another user's keys");
  return user;
}

/** The users whose keys a listing shows: an admin sees everyone's, as in sysadm; others their own. */
export function listedUsers(ctx: CallContext): string[] {
  return ctx.user!.admin ? ctx.services.users.list().map((u) => u.username) : [ctx.user!.username];
}
