/**
 * Request generation: a valid request of an action, then schema-aware mutations of its args,
 * envelope mutations, and raw frame (byte-level) mutations. Everything draws on one Rng, so a
 * connection's sequence of frames follows from the run seed (and the replies it harvested).
 */
import { Dup, Raw, clone, deleteAt, getAt, serialize, setAt, setOwn } from './json.js';
import type { Rng } from './prng.js';
import { isValid, nodesOf, randomText, type Path, type Schema, type SchemaNode, type SchemaObject } from './schema-gen.js';
import { regexGen } from './regex-gen.js';

export interface ActionInfo {
  /** "namespace/name action" (action = name for plain classes). */
  key: string;
  namespace: string;
  name: string;
  /** null for classes not dispatched on args.action (rpc/auth, events/subscribe...). */
  action: string | null;
  schema: Schema;
  anonymous: boolean;
}

export interface Generated {
  data: string | Buffer;
  binary: boolean;
  /** What was done to the valid request, for the reports. */
  labels: string[];
  /** The envelope is intact (our own unique id): safe to pipeline with others. */
  schemaOnly: boolean;
  action: ActionInfo;
}

export interface MutateEnv {
  rng: Rng;
  maxFrameBytes: number;
  /** Every action, for swapping args.action to a sibling's. */
  actions: readonly ActionInfo[];
  urls: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Value catalogues

export const TRAVERSAL = [
  '..', '../..', '../../../../../../../../etc/passwd', '/etc/passwd', '/etc/shadow', '/', '//', '.', './', '~', '~root',
  '..\\..\\..\\windows\\win.ini', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '%252e%252e%252f', '....//....//etc/passwd', 'a/../../b',
  'disk0/../../../x', 'fuzz.iso/..', 'x/../fuzz.iso', '\u2024\u2024/\u2024\u2024/', '\uff0e\uff0e\uff0f', '..%00', 'x\u0000.iso',
  '/dev/null', '/proc/self/environ', 'file:///etc/passwd', 'C:\\Windows', '\\\\server\\share', '.hidden', '-rf', '--help',
];
export const INJECTION = [
  '$(id)', '`id`', ';id', '|id', '&&id', '\nid', '-o /tmp/pwn', '%s%s%s%n', '{{7*7}}', '${7*7}', '<script>alert(1)</script>',
  "' OR '1'='1", 'a\r\nDELE x', '\u001b[31mred', 'CON', 'aux.iso', 'null', 'undefined', 'NaN', 'true', '[object Object]',
];
export const UNICODE = [
  '\u{1F600}', '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}', '\u202Eosi.exe', 'e\u0301\u0301\u0301\u0301', 'Z\u0334\u0321\u031b\u034e\u0317a\u0336',
  '\u0000', 'a\u0000b', '\uFEFF', '\u2028\u2029', '\uD800', '\uDFFF', 'a\uD83D', '\uFFFF', '\uFFFE', '\u{1D54F}', '\u4e2d\u6587', '\uFDFA',
  '\u0130', '\u00DF', '\u0085', '\u00A0', '\u3000', '\t', '\r\n', '', ' ', '\u200B', '\u{10FFFF}', '\u0627\u0644\u0639\u0631\u0628\u064A\u0629',
];
const EXTRA_KEYS = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'admin', 'isAdmin',
  'perms', 'action', 'args', 'id', '', ' ', '\u0000', '\u{1F600}', 'x'.repeat(300), 'then', 'length',
];
// Shared: always inserted as a clone, or later mutations would edit (and grow) it across requests.
const POLLUTION: unknown[] = [
  { admin: true, perms: { '*': ['admin'] }, polluted: 'yes' },
  { prototype: { admin: true, polluted: 'yes' } },
  { toString: 'polluted', valueOf: 1 },
  { then: 'x' },
  null,
  [],
];

function numbers(s: SchemaObject): unknown[] {
  const out: unknown[] = [
    0, -1, 1, new Raw('-0'), 2 ** 53, new Raw('9007199254740993'), -(2 ** 53), 2 ** 31, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 64,
    1e308, -1e308, new Raw('1e400'), new Raw('-1e400'), 5e-324, 0.5, 1.5, -1.5, 0.1, new Raw('1.0'), new Raw('1E2'), new Raw('1e-400'),
    'NaN', 'Infinity', '-Infinity', '1', '0x10', '1e3', ' 1', '', '-0', '9'.repeat(400),
  ];
  for (const b of [s.minimum, s.maximum, s.exclusiveMinimum, s.exclusiveMaximum]) {
    if (b === undefined) continue;
    out.push(b - 1, b + 1, b, b - 0.5, b + 0.5, String(b));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

export class Mutator {
  constructor(private readonly env: MutateEnv) {}

  private get rng(): Rng {
    return this.env.rng;
  }

  /** One request frame for `action`, built on its valid `args`. */
  make(action: ActionInfo, validArgs: unknown, id: string): Generated {
    const rng = this.rng;
    const labels: string[] = [];
    let args: unknown = clone(validArgs);
    const mode = rng.weighted([
      [15, 'valid'],
      [50, 'schema'],
      [12, 'envelope'],
      [18, 'raw'],
      [5, 'junk'],
    ] as const);
    if (mode === 'junk') {
      const junk = this.junk();
      return { ...junk, schemaOnly: false, action, labels: ['junk:' + junk.label] };
    }
    if (mode === 'schema' || ((mode === 'envelope' || mode === 'raw') && rng.chance(0.35))) {
      const n = rng.chance(0.7) ? 1 : rng.range(2, 3);
      for (let i = 0; i < n; i++) args = this.mutateArgs(action, args, labels);
    }
    const envelope: [string, unknown][] = [
      ['namespace', action.namespace],
      ['name', action.name],
      ['id', id],
      ['args', args],
    ];
    if (args === undefined) envelope.pop();
    let schemaOnly = true;
    let built: unknown = Object.fromEntries(envelope);
    if (mode === 'envelope') {
      built = this.mutateEnvelope(envelope, labels);
      schemaOnly = false;
    } else if (rng.chance(0.1)) {
      // Same envelope, other key order.
      const shuffled = [...envelope].sort(() => rng.float() - 0.5);
      built = new Dup(shuffled);
      labels.push('envelope:reordered');
    }
    const text = serialize(built, this.env.maxFrameBytes * 2);
    if (mode === 'valid') labels.push('valid');
    let out: { data: string | Buffer; binary: boolean } = { data: text, binary: false };
    if (mode === 'raw') {
      out = this.mutateRaw(text, labels);
      schemaOnly = false;
    }
    if (Buffer.byteLength(out.data) > this.env.maxFrameBytes * 2) {
      // Keep well below the hard limit (4x), where the daemon closes the connection by design.
      out = { data: Buffer.from(out.data).subarray(0, this.env.maxFrameBytes + 64), binary: out.binary };
      labels.push('clamped');
      schemaOnly = false;
    }
    return { ...out, labels, schemaOnly, action };
  }

  // --- args ----------------------------------------------------------------------------------

  mutateArgs(action: ActionInfo, args: unknown, labels: string[]): unknown {
    const rng = this.rng;
    const nodes: SchemaNode[] = nodesOf(args, action.schema);
    const node = rng.chance(0.2) ? nodes[0] : rng.pick(nodes);
    const { path, schema: s } = node;
    const value = getAt(args, path);
    const at = '/' + path.join('/');
    const types = typesOf(s, value);
    const ops: [number, string][] = [
      [10, 'wrong-type'],
      [6, 'null-ish'],
      [4, 'array-object-swap'],
      [3, 'deep-nesting'],
    ];
    if (path.length) ops.push([5, 'remove']);
    if (isObject(value)) ops.push([8, 'missing-required'], [8, 'extra-field'], [3, 'pollution']);
    if (types.includes('string') || typeof value === 'string') ops.push([22, 'string']);
    if (types.includes('number') || types.includes('integer') || typeof value === 'number') ops.push([14, 'number']);
    if (Array.isArray(value)) ops.push([8, 'array']);
    if ('const' in s || s.enum) ops.push([10, 'enum']);
    if (path[path.length - 1] === 'action' && path.length === 1 && action.action !== null) ops.push([6, 'sibling-action']);
    if (path[path.length - 1] === 'url') ops.push([15, 'url']);
    const op = rng.weighted(ops.map(([w, o]) => [w, o] as const));
    labels.push(`${op}@${at}`);
    switch (op) {
      case 'wrong-type':
        return setAt(args, path, this.wrongType(types));
      case 'null-ish':
        return setAt(args, path, rng.pick([null, {}, [], '', false, 0, true]));
      case 'array-object-swap':
        return setAt(args, path, swapShape(value, rng));
      case 'deep-nesting':
        return setAt(args, path, this.deep());
      case 'remove':
        return deleteAt(args, path);
      case 'missing-required': {
        const req = (s.required ?? []).filter((k) => Object.hasOwn(value as object, k));
        const keys = req.length ? req : Object.keys(value as object);
        if (!keys.length) return setAt(args, path, {});
        return deleteAt(args, [...path, rng.pick(keys)]);
      }
      case 'extra-field': {
        const key = rng.chance(0.8) ? rng.pick(EXTRA_KEYS) : randomText(rng, rng.range(1, 12));
        const obj = value as Record<string, unknown>;
        if (key === '__proto__' || key === 'constructor' || key === 'prototype') setOwn(obj, key, clone(rng.pick(POLLUTION)));
        else setOwn(obj, key, this.anyBad());
        return args;
      }
      case 'pollution': {
        // Duplicate keys too: the parser keeps the last one.
        const obj = value as Record<string, unknown>;
        const entries: [string, unknown][] = Object.keys(obj).map((k) => [k, obj[k]]);
        const key = rng.pick(['__proto__', 'constructor', ...Object.keys(obj)]);
        const at2 = rng.int(entries.length + 1);
        entries.splice(at2, 0, [key, key === '__proto__' || key === 'constructor' ? clone(rng.pick(POLLUTION)) : this.anyBad()]);
        return setAt(args, path, new Dup(entries));
      }
      case 'string':
        return setAt(args, path, this.badString(s, typeof value === 'string' ? value : ''));
      case 'number':
        return setAt(args, path, rng.pick(numbers(s)));
      case 'array':
        return setAt(args, path, this.badArray(s, value as unknown[]));
      case 'enum':
        return setAt(args, path, this.badEnum(s, value));
      case 'sibling-action': {
        const siblings = this.env.actions.filter((a) => a.namespace === action.namespace && a.name === action.name && a.action);
        return siblings.length ? setAt(args, path, rng.pick(siblings).action) : args;
      }
      case 'url':
        return setAt(args, path, rng.pick(this.env.urls));
      default:
        return args;
    }
  }

  private wrongType(types: string[]): unknown {
    const rng = this.rng;
    const all: [string, () => unknown][] = [
      ['string', () => rng.pick(['', '1', 'true', 'null', '{}', '[]', 'x'])],
      ['integer', () => rng.pick([0, 1, -1, 42])],
      ['number', () => rng.pick([0.5, 1e308, -1.5])],
      ['boolean', () => rng.chance(0.5)],
      ['null', () => null],
      ['object', () => rng.pick([{}, { a: 1 }, { length: 1 }])],
      ['array', () => rng.pick([[], [1], ['a', 'b'], [null], [{}]])],
    ];
    const other = all.filter(([t]) => !types.includes(t) && !(t === 'integer' && types.includes('number')));
    return rng.pick(other.length ? other : all)[1]();
  }

  private anyBad(): unknown {
    const rng = this.rng;
    return rng.pick<() => unknown>([
      () => rng.pick(UNICODE),
      () => rng.pick(TRAVERSAL),
      () => rng.pick(INJECTION),
      () => rng.pick(numbers({})),
      () => null,
      () => true,
      () => ({}),
      () => [],
      () => this.deep(),
      () => this.huge(),
    ])();
  }

  /** Strings that break the field's constraints, or keep them but stress the handler. */
  badString(s: SchemaObject, valid: string): unknown {
    const rng = this.rng;
    const max = s.maxLength;
    const choice = rng.weighted<() => unknown>([
      [10, () => rng.pick(TRAVERSAL)],
      [8, () => rng.pick(INJECTION)],
      [10, () => rng.pick(UNICODE)],
      [10, () => insertAt(valid, rng.pick(UNICODE), rng)],
      [6, () => insertAt(valid, rng.pick(['/', '..', '\\', '\u0000', ' ', '\n', '%', '*', '?', '.', '-', '+', ':']), rng)],
      [4, () => valid.toUpperCase()],
      [3, () => ` ${valid}`],
      [3, () => `${valid}\n`],
      [3, () => valid.slice(0, Math.max(0, valid.length - 1))],
      [4, () => (max !== undefined ? 'a'.repeat(max + 1) : 'a'.repeat(rng.range(257, 5000)))],
      [2, () => (max !== undefined ? 'a'.repeat(max) : valid)],
      [3, () => (max !== undefined ? '\u{1F600}'.repeat(Math.max(1, Math.ceil(max / 2) + 1)) : '\u{1F600}'.repeat(200))],
      [2, () => ''],
      [4, () => this.huge()],
      [5, () => (s.pattern ? patternNearMiss(s, rng) : randomText(rng, rng.range(0, 40)))],
      [3, () => rng.pick(numbers({}))],
      [2, () => new Raw(JSON.stringify(valid).replace(/^"/, '"\\u0000'))],
      [2, () => new Raw(`"${valid}\u0001"`)], // raw control character: invalid JSON
      [2, () => new Raw(`"\\ud800${valid}"`)],
      [2, () => new Raw(`"\\x41"`)], // invalid JSON escape
    ]);
    return choice();
  }

  private badArray(s: SchemaObject, value: unknown[]): unknown {
    const rng = this.rng;
    const item = value.length ? value[0] : 'x';
    return rng.pick<() => unknown>([
      () => [],
      () => Array.from({ length: (s.maxItems ?? 16) + 1 }, () => clone(item)),
      () => {
        // No more copies than fit in a clamped frame: stacked mutations would otherwise nest 10 000 x 10 000.
        const fit = Math.ceil((this.env.maxFrameBytes * 2) / Math.max(1, serialize(item, this.env.maxFrameBytes * 2).length));
        return Array.from({ length: Math.min(fit + 1, rng.pick([100, 1000, 10000])) }, () => clone(item));
      },
      () => [...value, ...value],
      () => [...value, this.anyBad()],
      () => [value],
      () => value.map(() => this.anyBad()),
      () => [null],
    ])();
  }

  private badEnum(s: SchemaObject, value: unknown): unknown {
    const rng = this.rng;
    const base = String('const' in s ? s.const : value);
    return rng.pick<() => unknown>([
      () => base.toUpperCase(),
      () => base.toLowerCase(),
      () => base[0]?.toUpperCase() + base.slice(1),
      () => base + ' ',
      () => base + '\u0000',
      () => base + '\u200B',
      () => '',
      () => rng.pick(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'valueOf']),
      () => rng.pick(this.env.actions.map((a) => a.action ?? a.name)),
      () => [base],
      () => ({ [base]: true }),
      () => (s.enum ? s.enum.join(',') : base + base),
      () => 1,
      () => null,
    ])();
  }

  private deep(): Raw {
    const rng = this.rng;
    const maxDepth = Math.floor(this.env.maxFrameBytes / 6);
    const depth = Math.min(maxDepth, rng.pick([8, 64, 512, 4096, 50000, 200000]));
    if (rng.chance(0.5)) return new Raw('['.repeat(depth) + ']'.repeat(depth));
    return new Raw('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
  }

  /** A long string, up to near max_frame_bytes. */
  huge(): string {
    const rng = this.rng;
    const m = this.env.maxFrameBytes;
    const bytes = rng.pick([300, 4096, 65536, Math.floor(m / 2), m - 1024, m - 200]);
    const unit = rng.pick(['A', '\u00e9', '\u{1F600}', 'ab/', '../', '\u0000']);
    // JSON escapes \u0000 as 6 bytes; count what it will cost in the frame.
    const cost = unit === '\u0000' ? 6 : Buffer.byteLength(unit);
    return unit.repeat(Math.max(1, Math.floor(bytes / cost)));
  }

  // --- envelope ------------------------------------------------------------------------------

  private mutateEnvelope(envelope: [string, unknown][], labels: string[]): unknown {
    const rng = this.rng;
    const e = new Map(envelope);
    const op = rng.weighted([
      [10, 'id'],
      [8, 'namespace'],
      [8, 'name'],
      [8, 'args'],
      [6, 'extra-key'],
      [6, 'duplicate-key'],
      [4, 'wrap'],
      [4, 'drop-all-but-one'],
    ] as const);
    labels.push(`envelope:${op}`);
    const strange = () =>
      rng.pick<unknown>([
        undefined, null, true, 0, 1.5, {}, [], '', ' ', 'x'.repeat(128), 'x'.repeat(129), '__proto__', 'constructor', 'toString',
        'hasOwnProperty', 'RPC', 'sysadm ', 'sysadm\u0000', 'rpc/auth', '\u{1F600}', new Raw('1e400'),
      ]);
    switch (op) {
      case 'id':
        e.set(
          'id',
          rng.pick<unknown>([
            undefined, null, true, {}, [], '', 'x'.repeat(256), 'x'.repeat(257), '\u{1F600}'.repeat(129), 1.5, new Raw('-0'), 1e308,
            new Raw('1e400'), new Raw('9007199254740993'), -7, 0, '\u0000', '\uD800', { id: 'nested' }, [1, 2],
          ]),
        );
        break;
      case 'namespace':
      case 'name':
        if (rng.chance(0.3)) {
          const other = rng.pick(this.env.actions);
          e.set(op, op === 'namespace' ? other.namespace : other.name);
        } else e.set(op, strange());
        break;
      case 'args':
        e.set('args', rng.pick<unknown>([undefined, null, [], 'string', 0, true, {}, this.deep(), [e.get('args')], this.huge()]));
        break;
      case 'extra-key': {
        const key = rng.pick(EXTRA_KEYS);
        const obj: Record<string, unknown> = {};
        for (const [k, v] of e) if (v !== undefined) setOwn(obj, k, v);
        setOwn(obj, key, key === '__proto__' ? clone(rng.pick(POLLUTION)) : this.anyBad());
        return obj;
      }
      case 'duplicate-key': {
        const entries = [...e].filter(([, v]) => v !== undefined) as [string, unknown][];
        const [k] = rng.pick(entries);
        const dupValue = k === 'id' ? rng.pick(['other-id', 7, null]) : k === 'args' ? rng.pick([{}, null, { action: 'list' }]) : strange();
        entries.splice(rng.int(entries.length + 1), 0, [k, dupValue]);
        return new Dup(entries);
      }
      case 'wrap': {
        const obj = Object.fromEntries(e);
        return rng.pick<unknown>([[obj], { request: obj }, [obj, obj], { args: obj }]);
      }
      case 'drop-all-but-one': {
        const keep = rng.pick([...e.keys()]);
        return { [keep]: e.get(keep) };
      }
    }
    const obj: Record<string, unknown> = {};
    for (const [k, v] of e) if (v !== undefined) setOwn(obj, k, v);
    return obj;
  }

  // --- raw frames ----------------------------------------------------------------------------

  private mutateRaw(text: string, labels: string[]): { data: string | Buffer; binary: boolean } {
    const rng = this.rng;
    let buf = Buffer.from(text);
    const op = rng.weighted([
      [10, 'truncate'],
      [10, 'flip'],
      [8, 'invalid-utf8'],
      [6, 'binary'],
      [4, 'bom'],
      [4, 'padding'],
      [4, 'trailing'],
      [3, 'concat'],
      [3, 'syntax'],
      [2, 'size-limit'],
    ] as const);
    labels.push(`raw:${op}`);
    switch (op) {
      case 'truncate':
        return { data: buf.subarray(0, rng.int(buf.length)), binary: false };
      case 'flip': {
        buf = Buffer.from(buf);
        for (let i = rng.range(1, 4); i > 0; i--) buf[rng.int(buf.length)] ^= 1 << rng.int(8);
        return { data: buf, binary: false };
      }
      case 'invalid-utf8': {
        const bad = rng.pick([[0xff], [0xc0, 0xaf], [0x80], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfe]]);
        const at = rng.int(buf.length + 1);
        return { data: Buffer.concat([buf.subarray(0, at), Buffer.from(bad), buf.subarray(at)]), binary: false };
      }
      case 'binary':
        return { data: buf, binary: true };
      case 'bom':
        return { data: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), buf]), binary: false };
      case 'padding': {
        const ws = rng.pick([' ', '\n', '\t', '\r\n']).repeat(rng.pick([1, 100, 10000]));
        return { data: rng.chance(0.5) ? ws + text + ws : text + ws, binary: false };
      }
      case 'trailing':
        return { data: text + rng.pick([',', ' x', '}', ']', '\u0000', 'null', '//c', '/* */', '\uFEFF']), binary: false };
      case 'concat':
        return { data: text + rng.pick(['', '\n', ',']) + text, binary: false };
      case 'syntax': {
        const variants = [
          text.replace(/"/g, "'"),
          text.replace(/"(namespace|name|id|args)":/g, '$1:'),
          text.replace(/}$/, ',}'),
          text.replace(/^\{/, '{/*c*/'),
          text.replace(/:/, '::'),
        ];
        return { data: rng.pick(variants), binary: false };
      }
      case 'size-limit': {
        // Exactly at the limit (accepted) or just past it (413), by whitespace padding.
        const target = this.env.maxFrameBytes + rng.pick([0, 1, 1000]);
        const pad = Math.max(0, target - buf.length);
        return { data: Buffer.concat([buf, Buffer.alloc(pad, 0x20)]), binary: false };
      }
    }
  }

  /** A frame that is not a request at all. */
  private junk(): { data: string | Buffer; binary: boolean; label: string } {
    const rng = this.rng;
    return rng.pick<() => { data: string | Buffer; binary: boolean; label: string }>([
      () => ({ data: '', binary: false, label: 'empty' }),
      () => ({ data: rng.pick([' ', '\n', 'null', 'true', '0', '"str"', '[]', '[{}]', '{}', '-', '1e400', '"\\ud800"']), binary: false, label: 'not-an-object' }),
      () => {
        const n = rng.pick([1, 16, 1000]);
        const b = Buffer.alloc(n);
        for (let i = 0; i < n; i++) b[i] = rng.int(256);
        return { data: b, binary: rng.chance(0.5), label: 'random-bytes' };
      },
      () => ({ data: '{"namespace":"rpc","name":"identify","id":"j","args":' + '['.repeat(100000), binary: false, label: 'unclosed-nesting' }),
      () => ({ data: '{' + '"a":1,'.repeat(rng.pick([1000, 100000])) + '"id":"dupes"}', binary: false, label: 'many-keys' }),
      () => ({ data: '{"id":"big","namespace":"rpc","name":"identify","args":"' + 'x'.repeat(this.env.maxFrameBytes) + '"}', binary: false, label: 'over-limit' }),
    ])();
  }
}

// ---------------------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Raw) && !(v instanceof Dup);
}

function typesOf(s: SchemaObject, value: unknown): string[] {
  if (s.type) return Array.isArray(s.type) ? s.type : [s.type];
  if ('const' in s) return [typeof s.const];
  if (value === null) return ['null'];
  if (Array.isArray(value)) return ['array'];
  return [typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : typeof value];
}

function swapShape(value: unknown, rng: Rng): unknown {
  if (Array.isArray(value)) return Object.fromEntries(value.map((v, i) => [String(i), v]));
  if (isObject(value)) return rng.chance(0.5) ? [value] : Object.values(value);
  return rng.chance(0.5) ? [value] : { value };
}

function insertAt(s: string, piece: string, rng: Rng): string {
  const at = rng.int(s.length + 1);
  return s.slice(0, at) + piece + s.slice(at);
}

/** A string that matches the pattern except in one place (or one character too long). */
function patternNearMiss(s: SchemaObject, rng: Rng): string {
  const valid = regexGen(s.pattern!).generate(rng, { maxRepeat: 8 });
  const variants = [
    valid + rng.pick(['/', ' ', '\u0000', '..', '\n', '\u{1F600}', '$', '*']),
    rng.pick(['.', '-', '_', '/', ' ', '+']) + valid,
    valid.replace(/.$/u, rng.pick(['\n', '/', '\u0000'])),
    valid + 'a'.repeat(rng.pick([1, 64, 300])),
    valid.toUpperCase(),
  ];
  for (let i = 0; i < 10; i++) {
    const v = rng.pick(variants);
    if (!isValid(s as Schema, v)) return v;
  }
  return rng.pick(variants);
}

export type { Path };
