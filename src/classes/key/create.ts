import { SshKeyStore } from '../../store/ssh-keys.js';
import { defineAction } from '../context.js';

export default defineAction('sysadm/key/create', {
  permission: null,
  write: true,
  handler({ name, public_key }, { services, user }) {
    return new SshKeyStore(services.config.state_dir).create(user!.username, name, public_key);
  },
});
