import { listBootImages } from '../../store/boot-images.js';
import { defineAction } from '../context.js';

// vm.view, as `vm definitions`: what a VM can boot is part of what can be asked for at create.
export default defineAction('sysadm/image/bootable', {
  permission: 'vm.view',
  async handler(_args, { services }) {
    return { kernels: await listBootImages(services.config.state_dir), isos: await services.isos.list() };
  },
});
