import { defineAction } from '../context.js';
import { parseOvf } from '../../provision/ovf/descriptor.js';
import { imageFor, limitsOf } from './common.js';
import { networksOf } from './networks.js';

export default defineAction('sysadm/image/info', {
  permission: 'image.view',
  async handler({ path, configuration }, ctx) {
    const { images, config } = ctx.services;
    const { ref } = await imageFor(ctx, path, false);
    const checked = await images.check(ref, limitsOf(config));
    const descriptor = parseOvf(checked.descriptor, configuration === undefined ? {} : { configuration });
    return { path: ref.path, name: ref.file, size: checked.bytes, descriptor, networks: networksOf(descriptor) };
  },
});
