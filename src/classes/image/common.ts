import type { Config } from '../../core/config.js';
import { forbidden, notFound } from '../../core/errors.js';
import { ALL_GROUPS } from '../../core/permissions.js';
import type { OvaLimits } from '../../provision/ovf/ova.js';
import { ImageStore, type ImageRef } from '../../provision/image-store.js';
import type { CallContext } from '../context.js';

export const IMAGE_QUEUE = 'sysadm/image';

export function limitsOf(config: Config): OvaLimits {
  return { max_members: config.images.max_members, max_member_bytes: config.images.max_member_bytes };
}

/** Shared images are seen with image.view anywhere; a group's (or an export's) with image.view on that group. */
export function canView(ctx: CallContext, gid: string): boolean {
  return gid === ALL_GROUPS ? ctx.can('image.view') : ctx.can('image.view', gid);
}

/**
 * The image `raw` names and the group it belongs to. One the caller may not view is a 404, as if
 * missing; `manage` also needs image.manage on its group (held globally for the shared folder).
 */
export async function imageFor(ctx: CallContext, raw: string, manage: boolean, field = 'path'): Promise<{ ref: ImageRef; gid: string }> {
  const { images, config } = ctx.services;
  const ref = ImageStore.parse(raw, field);
  const gid = await images.groupOf(ref, config.groups);
  if (!canView(ctx, gid) && !(manage && ctx.can('image.manage', gid))) throw notFound(`no image '${ref.path}'`);
  if (manage && !ctx.can('image.manage', gid)) {
    throw forbidden(`${ref.path}: changing ${gid === ALL_GROUPS ? 'the shared images needs image.manage held globally' : `images of group '${gid}' needs image.manage on it`}`);
  }
  return { ref, gid };
}
