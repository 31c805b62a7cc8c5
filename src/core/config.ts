import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ajv, formatAjvErrors } from './schemas.js';

export interface NicConfig { interface: string; description?: string }

export interface Config {
  listen: string;
  state_dir: string;
  tls?: { cert: string; key: string };
  origins: string[];
  token_timeout_s: number;
  ws_idle_timeout_s: number;
  max_frame_bytes: number;
  blacklist: { auth_fail_limit: number; account_fail_limit: number; block_minutes: number; reset_minutes: number; ipv6_prefix: number };
  events: { journal_size: number; max_buffered_bytes: number };
  connections: { max: number; per_address: number; sign_in_timeout_s: number; pre_auth_frame_bytes: number };
  nics: Record<string, NicConfig>;
  log: { level: 'error' | 'warn' | 'info' | 'debug'; file: string };
  tasks: { concurrency: number; history: number };
  iso: { import_dirs: string[]; stall_timeout_s: number; max_redirects: number; allow_private: string[] };
  hypervisor: 'auto' | 'qemu' | 'bhyve';
  bhyve: { uefi_code: string; uefi_vars: string };
  accelerator: 'auto' | 'kvm' | 'tcg';
  qemu: { binary: string; img_binary: string; efi_code: string; efi_vars: string; passt: string };
  vm: { stop_timeout_s: number; status_timeout_ms: number };
  console: { ring_bytes: number; segment_bytes: number; segments: number; viewer_buffer_bytes: number; ticket_ttl_s: number };
  storage_grades: Record<string, string>;
  groups: Record<string, GroupConfig>;
  validate_results: boolean;
  provision: { seed_detach_after_s: number; nat_net_prefix: number };
  images: { max_upload_bytes: number; max_members: number; max_member_bytes: number };
  http: { request_timeout_s: number; upload_idle_timeout_s: number };
}

export interface Quota { vms?: number; cpus?: number; memory_mib?: number; disk_mib?: number }
export interface GroupConfig { description?: string; quota?: Quota }

export interface KeySpec<T> {
  /** JSON Schema of the key's value; the key's doc becomes its description. */
  schema: Record<string, unknown>;
  /**
   * Used when the file leaves the key out. An object whose schema lists `properties` is merged
   * field by field with the file's, so a file may set one field of it; anything else is replaced.
   */
  default: T;
  /** One line for the README's "meaning" column. */
  doc: string;
  /** The README's "default" column, for defaults that depend on the host the docs are built on. */
  defaultDoc?: string;
}

/**
 * One entry per top-level key of Config: `-?` makes a key missing from the table a compile error,
 * and the excess-property check on CONFIG_KEYS's object literal a key missing from Config.
 */
export type ConfigTable = { [K in keyof Config]-?: KeySpec<Config[K]> };

const nonEmptyString = { type: 'string', minLength: 1 };
const nonNegativeInteger = { type: 'integer', minimum: 0 };

export const CONFIG_KEYS: ConfigTable = {
  listen: {
    schema: { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):[0-9]{1,5}$' },
    default: '127.0.0.1:12150',
    doc: 'address and port (`:0` picks a free port)',
  },
  state_dir: {
    schema: nonEmptyString,
    default: defaultStateDir(),
    defaultDoc: '`./var` (developer), `/var/lib/hyved` (Linux root), `/var/db/hyved` (FreeBSD root)',
    doc: 'users, VMs, images, logs',
  },
  tls: {
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['cert', 'key'],
      properties: { cert: nonEmptyString, key: nonEmptyString },
    },
    default: undefined,
    doc: '`{"cert": "...", "key": "..."}` switches to https/wss',
  },
  origins: {
    schema: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 256 } },
    default: [],
    doc: "web origins (`https://host[:port]`, or `null`) allowed to open a WebSocket or send HTTP requests besides the daemon's own; native clients' non-web Origins (`sysadm-client`) pass anyway",
  },
  token_timeout_s: {
    schema: { type: 'integer', minimum: 1 },
    default: 300,
    doc: 'session tokens expire after this much idle time',
  },
  ws_idle_timeout_s: {
    schema: { type: 'integer', minimum: 0 },
    default: 900,
    doc: 'close connections silent this long (subscribers: pings answered count); 0 = never',
  },
  max_frame_bytes: {
    schema: { type: 'integer', minimum: 1024, maximum: 67108864 },
    default: 1024 * 1024,
    doc: 'larger frames/bodies get 413; beyond 4× (before sign-in: `connections.pre_auth_frame_bytes`) the connection is closed (1009)',
  },
  blacklist: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        auth_fail_limit: { type: 'integer', minimum: 1 },
        account_fail_limit: { type: 'integer', minimum: 1 },
        block_minutes: { type: 'number', minimum: 0 },
        reset_minutes: { type: 'number', minimum: 0 },
        ipv6_prefix: { type: 'integer', minimum: 1, maximum: 128 },
      },
    },
    default: { auth_fail_limit: 5, account_fail_limit: 10, block_minutes: 60, reset_minutes: 10, ipv6_prefix: 64 },
    doc: "sysadm's brute-force rule, per address (127.0.0.0/8 is one; IPv6 by its `ipv6_prefix` network) and per user name; a success resets no count",
  },
  events: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: { journal_size: nonNegativeInteger, max_buffered_bytes: { type: 'integer', minimum: 1024 } },
    },
    default: { journal_size: 10000, max_buffered_bytes: 4 * 1024 * 1024 },
    doc: 'replay journal per event type; unread bytes (events and replies) before a connection is cut off',
  },
  connections: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max: { type: 'integer', minimum: 1, description: 'open connections (HTTP and WebSocket) at once; at most half the file limit' },
        per_address: { type: 'integer', minimum: 1, description: 'open connections from one address' },
        sign_in_timeout_s: { type: 'integer', minimum: 0, description: 'a WebSocket not signed in by then is closed (4001); 0 = never' },
        pre_auth_frame_bytes: { type: 'integer', minimum: 1024, description: 'larger frames before sign-in close the WebSocket (1009)' },
      },
    },
    default: { max: 1024, per_address: 256, sign_in_timeout_s: 30, pre_auth_frame_bytes: 16384 },
    doc: 'open connections at once (at most half the file limit) and per address, beyond which new ones are closed at once; seconds to sign in on a WebSocket; largest frame before sign-in',
  },
  nics: {
    schema: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['interface'],
        properties: {
          interface: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}$' },
          description: { type: 'string', maxLength: 200 },
        },
      },
    },
    default: {},
    doc: 'host NICs offered for BRIDGE: `{"NICID": {"interface": "em0", "description": "..."}}`',
  },
  log: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: ['error', 'warn', 'info', 'debug'] },
        file: { type: 'string', description: 'JSON-lines log; relative paths are inside state_dir' },
      },
    },
    default: { level: 'info', file: 'hyved.log' },
    doc: 'console is human-readable, the file JSON lines (relative to `state_dir`)',
  },
  tasks: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        concurrency: { type: 'integer', minimum: 1, maximum: 64, description: 'tasks running at once' },
        history: { ...nonNegativeInteger, description: 'finished tasks kept on disk' },
      },
    },
    default: { concurrency: 4, history: 200 },
    doc: 'tasks running at once; finished tasks kept on disk',
  },
  iso: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        import_dirs: { type: 'array', items: nonEmptyString, description: 'directories file:// fetches may read from' },
        stall_timeout_s: { type: 'number', exclusiveMinimum: 0, description: 'a transfer with no data for this long fails' },
        max_redirects: { type: 'integer', minimum: 0, maximum: 20 },
        allow_private: {
          type: 'array',
          items: { type: 'string', pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$' },
          description: 'addresses or address/prefix ranges (`10.1.2.0/24`, `::1`) that fetches may connect to although loopback, link-local, private or the host\'s own',
        },
      },
    },
    default: { import_dirs: [], stall_timeout_s: 60, max_redirects: 5, allow_private: [] },
    doc: 'where `file://` fetches may read; transfer limits; `allow_private`: the loopback, link-local, private or own addresses (CIDRs) fetches may connect to, refused otherwise',
  },
  hypervisor: {
    schema: { enum: ['auto', 'qemu', 'bhyve'] },
    default: 'auto',
    doc: '`auto` (bhyve on FreeBSD, QEMU elsewhere), `qemu` or `bhyve`',
  },
  bhyve: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: { uefi_code: nonEmptyString, uefi_vars: nonEmptyString },
    },
    default: { uefi_code: '/usr/local/share/uefi-firmware/BHYVE_UEFI.fd', uefi_vars: '/usr/local/share/uefi-firmware/BHYVE_UEFI_VARS.fd' },
    doc: "bhyve's UEFI firmware (the `edk2-bhyve` package); without both files VMs cannot start",
  },
  accelerator: {
    schema: { enum: ['auto', 'kvm', 'tcg'] },
    default: 'auto',
    doc: '`auto` (KVM where `/dev/kvm` opens and the CPU shows vmx/svm, else TCG), `kvm` or `tcg`',
  },
  qemu: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: { binary: nonEmptyString, img_binary: nonEmptyString, efi_code: nonEmptyString, efi_vars: nonEmptyString, passt: nonEmptyString },
    },
    default: {
      binary: 'qemu-system-x86_64',
      img_binary: 'qemu-img',
      efi_code: process.platform === 'freebsd' ? '/usr/local/share/qemu/edk2-x86_64-code.fd' : '/usr/share/OVMF/OVMF_CODE_4M.fd',
      efi_vars: process.platform === 'freebsd' ? '/usr/local/share/qemu/edk2-i386-vars.fd' : '/usr/share/OVMF/OVMF_VARS_4M.fd',
      passt: 'passt',
    },
    defaultDoc: "`qemu-system-x86_64`, `qemu-img`; EFI files from Debian's `ovmf` (Linux) or the `qemu` package (FreeBSD); `passt`",
    doc: '`binary`, `img_binary`, `efi_code`, `efi_vars`; `passt`: the user-mode network program behind NAT nics kept off the host\'s loopback (`host_loopback: false`)',
  },
  vm: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        stop_timeout_s: { type: 'number', exclusiveMinimum: 0, description: 'graceful stop: wait this long for the guest before powering it off' },
        status_timeout_ms: { type: 'integer', minimum: 10, description: 'a QMP query slower than this marks the VM UNKNOWN' },
      },
    },
    default: { stop_timeout_s: 60, status_timeout_ms: 2000 },
    doc: 'graceful stop limit; QMP answer limit',
  },
  console: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ring_bytes: { type: 'integer', minimum: 4096, description: 'recent serial output kept in memory per running VM' },
        segment_bytes: { type: 'integer', minimum: 65536, description: 'size at which the serial log moves to a new file' },
        segments: { type: 'integer', minimum: 2, maximum: 64, description: 'serial log files kept per VM (the oldest is deleted)' },
        viewer_buffer_bytes: { type: 'integer', minimum: 65536, description: 'a console viewer with more than half this unsent is sent the rest at its own pace, from memory or the files' },
        ticket_ttl_s: { type: 'integer', minimum: 1, maximum: 600, description: 'how long a console ticket can be used (once)' },
      },
    },
    default: { ring_bytes: 1 << 20, segment_bytes: 8 << 20, segments: 2, viewer_buffer_bytes: 4 << 20, ticket_ttl_s: 30 },
    doc: 'serial consoles: memory ring, log file size and count per VM, slow-viewer bound, ticket lifetime',
  },
  storage_grades: {
    schema: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$' },
      additionalProperties: nonEmptyString,
    },
    default: { standard: 'discs' },
    doc: 'grade name → directory for discs (relative to `state_dir`)',
  },
  groups: {
    schema: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,31}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          description: { type: 'string' },
          quota: {
            type: 'object',
            additionalProperties: false,
            properties: { vms: nonNegativeInteger, cpus: nonNegativeInteger, memory_mib: nonNegativeInteger, disk_mib: nonNegativeInteger },
          },
        },
      },
    },
    default: {},
    doc: 'VM groups with optional `quota` `{vms,cpus,memory_mib,disk_mib}`; `default` always exists',
  },
  validate_results: {
    schema: { type: 'boolean' },
    default: false,
    doc: "check every action's result against its schema and answer 500 if it breaks (a test-time check; the tests turn it on)",
  },
  provision: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        seed_detach_after_s: { type: 'number', minimum: 0, description: 'a cloud-init seed is detached (and deleted) at the first stop of a run at least this long' },
        nat_net_prefix: { type: 'integer', minimum: 8, maximum: 30, description: "prefix length of a NAT nic's user-net when the VM has a fixed IPv4 (the network around that address)" },
      },
    },
    default: { seed_detach_after_s: 120, nat_net_prefix: 24 },
    doc: 'reimage/create seeds: detach after a run this long; NAT network size around a fixed IPv4',
  },
  images: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_upload_bytes: { type: 'integer', minimum: 1024, description: 'largest body PUT /upload/ova|iso|dist/... accepts' },
        max_members: { type: 'integer', minimum: 2, maximum: 100000, description: 'files in one OVA' },
        max_member_bytes: { type: 'integer', minimum: 1024, description: 'largest file in one OVA' },
      },
    },
    default: { max_upload_bytes: 64 * 2 ** 30, max_members: 64, max_member_bytes: 64 * 2 ** 30 },
    doc: 'OVA/OVF image store: the largest upload, and the members an OVA may hold (count, bytes each); larger ones are refused with nothing stored',
  },
  http: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        request_timeout_s: { type: 'number', exclusiveMinimum: 0, description: 'an HTTP request whose body is not all in by then gets 408 and its connection is closed; streamed uploads (PUT /upload/...) are exempt' },
        upload_idle_timeout_s: { type: 'number', exclusiveMinimum: 0, description: 'a streamed upload that sends no bytes for this long is cut off and its temp file removed' },
      },
    },
    default: { request_timeout_s: 60, upload_idle_timeout_s: 60 },
    doc: 'HTTP deadlines: whole request (slowloris protection), and the idle deadline that replaces it for streamed uploads of any length',
  },
};

// Object.entries forgets that each key's spec matches its key; the table's type guarantees it.
const entries = Object.entries(CONFIG_KEYS) as [keyof Config, KeySpec<unknown>][];

/** The JSON Schema of a config file (schemas/config.json is this, written out by `npm run docs:config`). */
export const CONFIG_SCHEMA: Record<string, unknown> = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'hyved configuration',
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(entries.map(([key, spec]) => [key, { description: spec.doc, ...spec.schema }])),
};

const validateConfig = ajv.compile(CONFIG_SCHEMA);

/** The embedded defaults: `hyved serve` with no config file runs on these. */
export function defaultConfig(): Config {
  const config: Record<string, unknown> = {};
  // A fresh copy each time: loadConfig resolves paths inside the nested objects in place.
  for (const [key, spec] of entries) if (spec.default !== undefined) config[key] = structuredClone(spec.default);
  return config as unknown as Config;
}

function defaultStateDir(): string {
  // A developer run (not root) keeps its state beside the checkout.
  if (process.getuid?.() !== 0) return './var';
  return process.platform === 'freebsd' ? '/var/db/hyved' : '/var/lib/hyved';
}

export class ConfigError extends Error {}

export interface ConfigOverrides { config?: string; listen?: string; stateDir?: string }

/** Reads the config file (if any), validates it, merges defaults and then command-line overrides. */
export function loadConfig(overrides: ConfigOverrides = {}): Config {
  let fromFile: Record<string, unknown> = {};
  if (overrides.config) {
    let text: string;
    try {
      text = readFileSync(overrides.config, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config ${overrides.config}: ${(err as Error).message}`);
    }
    try {
      fromFile = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`config ${overrides.config} is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (overrides.listen !== undefined) fromFile = { ...fromFile, listen: overrides.listen };
  if (overrides.stateDir !== undefined) fromFile = { ...fromFile, state_dir: overrides.stateDir };
  if (!validateConfig(fromFile)) {
    const lines = formatAjvErrors(validateConfig.errors).map((e) => `  ${e.path || '/'}: ${e.message}`);
    throw new ConfigError(`invalid config${overrides.config ? ` ${overrides.config}` : ''}:\n${lines.join('\n')}`);
  }
  const config = defaultConfig();
  const slots = config as unknown as Record<keyof Config, unknown>;
  for (const [key, spec] of entries) {
    const given = fromFile[key];
    if (given === undefined) continue;
    slots[key] = spec.schema.properties ? { ...(slots[key] as object | undefined), ...(given as object) } : given;
  }
  // iohyve's guests live in `default`, so a file listing its own groups cannot take it away.
  config.groups = { default: {}, ...config.groups };
  config.iso.import_dirs = config.iso.import_dirs.map((d) => path.resolve(d));
  config.iso.allow_private.forEach((cidr, i) => {
    const [address, prefix] = cidr.split('/');
    const family = net.isIP(address);
    if (!family || (prefix !== undefined && Number(prefix) > (family === 6 ? 128 : 32))) {
      throw new ConfigError(`invalid config${overrides.config ? ` ${overrides.config}` : ''}:\n  /iso/allow_private/${i}: '${cidr}' is not an address or address/prefix`);
    }
  });
  config.state_dir = path.resolve(config.state_dir);
  for (const [grade, dir] of Object.entries(config.storage_grades)) config.storage_grades[grade] = path.resolve(config.state_dir, dir);
  return config;
}

export function parseListen(listen: string): { host: string; port: number } {
  const idx = listen.lastIndexOf(':');
  const host = listen.slice(0, idx).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(idx + 1));
  if (!Number.isInteger(port) || port > 65535) throw new ConfigError(`listen: bad port in ${listen}`);
  return { host, port };
}
