import { defineAction } from '../context.js';

export default defineAction('sysadm/dist/list', {
  permission: 'image.view',
  async handler(_args, ctx) {
    const list = await ctx.services.dists.list();
    return {
      distributions: list.map((d) => ({
        name: d.name,
        description: d.description,
        os: d.os,
        min_disc_mib: d.min_disc_mib,
        firmware: d.firmware,
        format: d.format,
        size: d.size,
        direct_boot: d.kernel !== undefined,
      })),
    };
  },
});
