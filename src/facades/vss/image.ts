import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { RpcError, badRequest } from '../../core/errors.js';
import { execute } from '../../server/execute.js';
import { authenticate, send } from '../../server/http-io.js';
import type { DaemonServices as Services } from '../../server/services.js';
import { links, sendError } from './envelope.js';

/** What OPTIONS /v2/image answers: the methods and their parameters, as the seed documents them. */
const DESCRIPTION = {
  GET: {
    description: 'OVF/OVA Virtual Machine images available in the image store: name and path (use path to deploy).',
    parameters: {
      sort: { type: 'string', enum: ['name', 'path'], description: 'sort results by path or name' },
      name: { type: 'string', description: 'OVA image file name (case-insensitive substring)' },
      page: { type: 'integer', minimum: 1, description: 'page of results (with per_page)' },
      per_page: { type: 'integer', minimum: 1, maximum: 1000, description: 'results per page' },
    },
    authentication: 'Authorization: Bearer <hyved token> (or Basic)',
  },
  OPTIONS: { description: 'this description' },
};

const ALLOW = 'GET, OPTIONS';

function positive(search: URLSearchParams, key: string, max: number): number | undefined {
  const raw = search.get(key);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw badRequest(`${key}: '${raw.slice(0, 20)}' must be a whole number from 1 to ${max}`, [{ path: `/query/${key}`, message: `must be an integer from 1 to ${max}` }]);
  return n;
}

/**
 * VSS's `/v2/image` (seeds/vss-ovf-images.txt) over `sysadm/image list`: GET with `sort` and `name`,
 * answered in VSS's envelope `{_links, data:[{name,path}], meta:{count,time,user}}`; errors carry
 * the same `_links` with `status`, `error` (the reason word) and `message`.
 */
export async function handleVssImage(req: IncomingMessage, res: ServerResponse, search: URLSearchParams, services: Services): Promise<void> {
  const started = performance.now();
  const _links = links(req, 'image');
  const fail = (e: RpcError) => sendError(req, res, 'image', e);
  if (req.method === 'OPTIONS') {
    res.setHeader('Allow', ALLOW);
    return send(res, 200, { _links, data: DESCRIPTION, meta: { allow: ALLOW.split(', ') } });
  }
  if (req.method !== 'GET') {
    res.setHeader('Allow', ALLOW);
    return fail(new RpcError(405, `method ${req.method} not allowed on /v2/image: use GET or OPTIONS`));
  }
  let page: number | undefined;
  let perPage: number | undefined;
  const sort = search.get('sort') ?? undefined;
  const name = search.get('name') ?? undefined;
  try {
    if (sort !== undefined && sort !== 'name' && sort !== 'path') {
      throw badRequest(`sort: '${sort.slice(0, 20)}' must be name or path`, [{ path: '/query/sort', message: 'must be name or path' }]);
    }
    page = positive(search, 'page', 1_000_000);
    perPage = positive(search, 'per_page', 1000);
  } catch (err) {
    return fail(err as RpcError);
  }
  let user = '';
  const remoteAddress = req.socket.remoteAddress ?? '';
  const reply = await execute(
    services,
    { namespace: 'sysadm', name: 'image', id: '', args: { action: 'list', ...(sort !== undefined ? { sort } : {}), ...(name !== undefined ? { name } : {}) } },
    {
      remoteAddress,
      connection: null,
      authenticate: async () => {
        const u = await authenticate(req.headers.authorization, remoteAddress, services);
        user = u.username;
        return u;
      },
    },
    'rest',
  );
  if (reply.error) return fail(reply.error);
  let data = (reply.args as { images: { name: string; path: string }[] }).images.map(({ name: n, path }) => ({ name: n, path }));
  if (perPage !== undefined || page !== undefined) {
    const size = perPage ?? 100;
    data = data.slice(((page ?? 1) - 1) * size, (page ?? 1) * size);
  }
  send(res, 200, { _links, data, meta: { count: data.length, time: `${((performance.now() - started) / 1000).toFixed(5)}s`, user } });
}
