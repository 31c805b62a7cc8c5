import { defineAction } from '../context.js';

export default defineAction('sysadm/iohyve/listisos', {
  permission: 'image.view',
  async handler(_args, { services }) {
    const isos = await services.isos.list();
    return { listisos: isos.map((i) => i.name), isos };
  },
});
