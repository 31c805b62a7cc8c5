import type { DcImage, Profile, Property } from './catalog.js';
import { ARCHITECTURE, IMAGE_OWNER, UNIT } from './catalog.js';
import type { DcAction, DcState, DcStateNode } from './states.js';
import { el, type XmlNode } from './xml.js';

/**
 * Deltacloud's representations (its server/views/**.xml.haml and its models' to_hash), each as
 * XML and as JSON. Every href is absolute, from the request's scheme and Host.
 */

export const API_VERSION = '1.1.4';
export const DRIVER = 'hyved';
export const PROVIDER = 'default';

export interface Links { base: string }

export interface Address { type: 'ipv4' | 'ipv6' | 'hostname' | 'mac'; address: string }

export interface InstanceView {
  id: string;
  name: string;
  owner_id: string;
  image_id: string;
  realm_id: string;
  state: DcState;
  profile: { id: string; overrides: [Property['name'], number][] };
  actions: DcAction[];
  /** Run-on-instance: offered once the guest agent is there to run commands. */
  run: boolean;
  launch_time: string | null;
  public_addresses: Address[];
  private_addresses: Address[];
  /** The caller's key whose fingerprint the instance's seed authorized, if any. */
  keyname: string | null;
}

export interface RealmView { id: string; name: string }
export interface KeyView { name: string; fingerprint: string; public_key: string }

const url = (l: Links, ...parts: string[]) => [l.base, ...parts.map(encodeURIComponent)].join('/');

function actionLinks(l: Links, i: InstanceView): { rel: string; method: string; href: string }[] {
  const links: { rel: string; method: string; href: string }[] = i.actions.map((a) =>
    a === 'destroy' ? { rel: a, method: 'delete', href: url(l, 'instances', i.id) } : { rel: a, method: 'post', href: url(l, 'instances', i.id, a) },
  );
  if (i.run) links.push({ rel: 'run', method: 'post', href: `${url(l, 'instances', i.id, 'run')};id=${encodeURIComponent(i.id)}` });
  return links;
}

export const instance = {
  xml(l: Links, i: InstanceView): XmlNode {
    const addresses = (tag: string, list: Address[]) => el(tag, {}, ...list.map((a) => el('address', { type: a.type }, a.address)));
    return el(
      'instance',
      { href: url(l, 'instances', i.id), id: i.id },
      el('name', {}, i.name),
      el('owner_id', {}, i.owner_id),
      el('image', { href: url(l, 'images', i.image_id), id: i.image_id }),
      el('realm', { href: url(l, 'realms', i.realm_id), id: i.realm_id }),
      el('state', {}, i.state),
      el(
        'hardware_profile',
        { href: url(l, 'hardware_profiles', i.profile.id), id: i.profile.id },
        ...i.profile.overrides.map(([name, value]) => el('property', { kind: 'fixed', name, unit: UNIT[name], value })),
      ),
      el('actions', {}, ...actionLinks(l, i).map((a) => el('link', a))),
      i.launch_time !== null && el('launch_time', {}, i.launch_time),
      addresses('public_addresses', i.public_addresses),
      addresses('private_addresses', i.private_addresses),
      // views/instances/show.xml.haml: one <authentication>, of type key when the driver has that feature.
      el('authentication', { type: 'key' }, el('login', {}, el('keyname', {}, i.keyname ?? ''))),
      el('storage_volumes'),
    );
  },
  json(l: Links, i: InstanceView): Record<string, unknown> {
    return {
      id: i.id,
      href: url(l, 'instances', i.id),
      name: i.name,
      state: i.state,
      owner: i.owner_id,
      image: { href: url(l, 'images', i.image_id), id: i.image_id, rel: 'image' },
      realm: { href: url(l, 'realms', i.realm_id), id: i.realm_id, rel: 'realm' },
      actions: actionLinks(l, i).map(({ href, rel, method }) => ({ href, rel, method })),
      hardware_profile: {
        id: i.profile.id,
        href: url(l, 'hardware_profiles', i.profile.id),
        rel: 'hardware_profile',
        properties: Object.fromEntries(i.profile.overrides),
      },
      public_addresses: i.public_addresses,
      private_addresses: i.private_addresses,
      ...(i.launch_time !== null ? { create_time: i.launch_time } : {}),
      storage_volumes: [],
      // Instance#to_hash: authentication only when there is a keyname (the password is never kept).
      ...(i.keyname !== null ? { authentication: { keyname: i.keyname } } : {}),
    };
  },
};

export const image = {
  xml(l: Links, i: DcImage, profiles: Profile[]): XmlNode {
    return el(
      'image',
      { href: url(l, 'images', i.id), id: i.id },
      el('name', {}, i.id),
      el('description', {}, i.description),
      el('owner_id', {}, IMAGE_OWNER),
      el('architecture', {}, ARCHITECTURE),
      el('state', {}, 'AVAILABLE'),
      i.created !== undefined && el('creation_time', {}, i.created),
      el('hardware_profiles', {}, ...profiles.map((p) => el('hardware_profile', { href: url(l, 'hardware_profiles', p.id), id: p.id, rel: 'hardware_profile' }))),
      el('root_type', {}, 'transient'),
      el('actions', {}, el('link', { rel: 'create_instance', method: 'post', href: `${url(l, 'instances')};image_id=${encodeURIComponent(i.id)}` })),
    );
  },
  json(l: Links, i: DcImage, profiles: Profile[]): Record<string, unknown> {
    return {
      id: i.id,
      href: url(l, 'images', i.id),
      name: i.id,
      description: i.description,
      owner: IMAGE_OWNER,
      architecture: ARCHITECTURE,
      state: 'AVAILABLE',
      ...(i.created !== undefined ? { creation_time: i.created } : {}),
      hardware_profiles: profiles.map((p) => ({ id: p.id, href: url(l, 'hardware_profiles', p.id), rel: 'hardware_profile' })),
      root_type: 'transient',
      actions: [{ rel: 'create_instance', method: 'post', href: `${url(l, 'instances')};image_id=${encodeURIComponent(i.id)}` }],
    };
  },
};

export const hardwareProfile = {
  xml(l: Links, p: Profile): XmlNode {
    return el(
      'hardware_profile',
      { href: url(l, 'hardware_profiles', p.id), id: p.id },
      el('name', {}, p.id),
      ...p.properties.map((prop) => {
        const attrs = { kind: prop.kind, name: prop.name, unit: prop.unit, value: prop.value };
        if (prop.kind === 'fixed') return el('property', attrs);
        return el(
          'property',
          attrs,
          el('param', { href: url(l, 'instances'), method: 'post', name: `hwp_${prop.name}`, operation: 'create' }),
          prop.kind === 'range'
            ? el('range', { first: prop.range!.first, last: prop.range!.last })
            : el('enum', {}, ...prop.values!.map((v) => el('entry', { value: v }))),
        );
      }),
    );
  },
  json(l: Links, p: Profile): Record<string, unknown> {
    return {
      id: p.id,
      href: url(l, 'hardware_profiles', p.id),
      name: p.id,
      properties: p.properties.map((prop) => ({
        kind: prop.kind,
        name: prop.name,
        unit: prop.unit,
        value: prop.value,
        ...(prop.range ? { range: prop.range } : {}),
        ...(prop.values ? { enum: prop.values } : {}),
      })),
    };
  },
};

export const realm = {
  xml(l: Links, r: RealmView): XmlNode {
    return el('realm', { href: url(l, 'realms', r.id), id: r.id }, el('name', {}, r.name), el('state', {}, 'AVAILABLE'), el('limit'));
  },
  json(l: Links, r: RealmView): Record<string, unknown> {
    return { id: r.id, href: url(l, 'realms', r.id), name: r.name, state: 'AVAILABLE', limit: '' };
  },
};

export const key = {
  xml(l: Links, k: KeyView): XmlNode {
    return el(
      'key',
      { href: url(l, 'keys', k.name), id: k.name, type: 'key' },
      el('name', {}, k.name),
      el('actions', {}, el('link', { rel: 'destroy', method: 'delete', href: url(l, 'keys', k.name) })),
      el('fingerprint', {}, k.fingerprint),
      el('public_key', {}, k.public_key),
      el('state', {}, 'AVAILABLE'),
    );
  },
  json(l: Links, k: KeyView): Record<string, unknown> {
    return {
      id: k.name,
      href: url(l, 'keys', k.name),
      name: k.name,
      credential_type: 'key',
      fingerprint: k.fingerprint,
      public_key: k.public_key,
      state: 'AVAILABLE',
      actions: [{ rel: 'destroy', method: 'delete', href: url(l, 'keys', k.name) }],
    };
  },
};

export const driver = {
  xml(l: Links, full: boolean): XmlNode {
    return el(
      'driver',
      { href: url(l, 'drivers', DRIVER), id: DRIVER },
      el('name', {}, 'Hyved'),
      el('provider', { id: PROVIDER }, full && el('entrypoint', { kind: 'compute' }, l.base)),
    );
  },
  json(l: Links): Record<string, unknown> {
    return { id: DRIVER, href: url(l, 'drivers', DRIVER), name: 'Hyved', entrypoints: { compute: { [PROVIDER]: l.base } } };
  },
};

export const states = {
  xml(nodes: DcStateNode[]): XmlNode {
    return el(
      'states',
      {},
      ...nodes.map((s) =>
        el('state', { name: s.name }, ...s.transitions.map((t) => el('transition', t.auto ? { to: t.to, auto: 'true' } : { to: t.to, action: t.action }))),
      ),
    );
  },
  json(nodes: DcStateNode[]): unknown {
    return nodes.map((s) => ({ name: s.name, transitions: s.transitions.map((t) => (t.auto ? { to: t.to, auto: 'true' } : { to: t.to, action: t.action })) }));
  },
};

export interface Collection { rel: string; features: { name: string; rel: string; param: string }[] }

export const entryPoint = {
  xml(l: Links, collections: Collection[]): XmlNode {
    return el(
      'api',
      { version: API_VERSION, driver: DRIVER, provider: PROVIDER },
      ...collections.map((c) => el('link', { rel: c.rel, href: url(l, c.rel) }, ...c.features.map((f) => el('feature', { name: f.name, rel: f.rel }, el('param', { name: f.param }))))),
    );
  },
  json(l: Links, collections: Collection[]): unknown {
    return {
      api: {
        version: API_VERSION,
        driver: DRIVER,
        provider: PROVIDER,
        links: collections.map((c) => ({
          rel: c.rel,
          href: url(l, c.rel),
          features: c.features.map((f) => [{ name: f.name, rel: f.rel, params: [f.param], constraints: {} }]),
        })),
      },
    };
  },
};

export interface RunView { id: string; address: string; command: string; stdout: string; stderr: string; exit_code: number | null; timed_out: boolean; truncated?: boolean }

/** Deltacloud's run answer (views/instances/run.xml.haml), with hyved's exit code and stderr beside `output`. */
export const run = {
  xml(l: Links, r: RunView): XmlNode {
    return el(
      'instance',
      { href: url(l, 'instances', r.id), id: r.id },
      el('public_address', {}, r.address),
      el('command', {}, r.command),
      el('output', {}, r.stdout),
      el('stderr', {}, r.stderr),
      el('exit_code', {}, r.exit_code === null ? '' : String(r.exit_code)),
      el('timed_out', {}, String(r.timed_out)),
      r.truncated !== undefined && el('truncated', {}, String(r.truncated)),
    );
  },
  json(_l: Links, r: RunView): unknown {
    return {
      instance: {
        id: r.id,
        public_address: r.address,
        command: r.command,
        output: r.stdout,
        stderr: r.stderr,
        exit_code: r.exit_code,
        timed_out: r.timed_out,
        ...(r.truncated !== undefined ? { truncated: r.truncated } : {}),
      },
    };
  },
};
