import { defineAction } from '../context.js';

/** Bytemark publishes its definitions to anyone: names and descriptions only, no paths. */
export default defineAction('sysadm/dist/definitions', {
  permission: null,
  anonymous: true,
  async handler(_args, { services }) {
    return {
      distributions: (await services.dists.list()).map((d) => ({ name: d.name, description: d.description })),
      storage_grades: Object.keys(services.config.storage_grades),
    };
  },
});
