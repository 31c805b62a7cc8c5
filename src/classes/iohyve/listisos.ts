import { defineAction } from '../../core/action.js';

export default defineAction({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'listisos',
  permission: 'image.view',
  async handler(_args, { services }) {
    const isos = await services.isos.list();
    return { listisos: isos.map((i) => i.name), isos };
  },
});
