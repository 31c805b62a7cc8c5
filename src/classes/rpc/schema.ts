import { defineAction } from '../context.js';
import { notFound } from '../../core/errors.js';

export default defineAction('rpc/schema', {
  permission: null,
  handler({ namespace, name }, { services, user }) {
    const all = services.catalog.listSchemas(user);
    if (namespace === undefined && name === undefined) return all;
    const picked = Object.fromEntries(
      Object.entries(all).filter(([key]) => {
        const [ns, n] = key.split('/');
        return (namespace === undefined || ns === namespace) && (name === undefined || n === name);
      }),
    );
    if (Object.keys(picked).length === 0) throw notFound(`no class matching ${namespace ?? '*'}/${name ?? '*'} that you may call`);
    return picked;
  },
});
