import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { RawSocket, type Frame } from './helpers/raw.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { setTimeout as sleep } from 'node:timers/promises';

/*
 * Malformed input, frame by frame, against a real daemon: every frame must get exactly one
 * reply, an error with a 4xx code (never 500), carrying the request's id when it had a usable
 * one; frames past the hard limit (4 x max_frame_bytes) close the connection with 1009. Each
 * frame goes out on an unauthenticated socket and again on a signed-in one, where args reach
 * schema validation. A sentinel request after every frame proves that no second reply followed.
 */

// Large enough that 100k-deep nesting reaches the JSON parser rather than the 413 check.
const MAX = 1024 * 1024;
const HARD = 4 * MAX;
const MARK = 'mark-c0ffee-polluted';
const REPLY_MS = 5_000;
const ID_MAX = 256;

type Side = 'unauth' | 'auth';
interface Case { label: string; data: string | Buffer; binary: boolean; code?: number; only?: Side }
interface Opts { binary?: boolean; code?: number; only?: Side }

let d: TestDaemon;
let cases: Case[] = [];
const problems: Record<Side, string[]> = { unauth: [], auth: [] };
const codes: Record<Side, Record<number, number>> = { unauth: {}, auth: {} };

before(async () => {
  // Every case runs unauthenticated too, on one long-lived socket: the pre-sign-in frame and time
  // limits (test/hardening-limits.test.ts) would cut it off before the frame handling is reached.
  d = await startDaemon({ max_frame_bytes: MAX, connections: { pre_auth_frame_bytes: HARD, sign_in_timeout_s: 0 } });
  cases = buildCases(d.adminPassword);
});
after(() => d?.stop());

// ---------------------------------------------------------------------------------------------
// The frames

const MISSING = Symbol('missing');

function buildCases(adminPassword: string): Case[] {
  const list: Case[] = [];
  const seen = new Set<string>();
  let seq = 0;
  const id = () => `m${++seq}`;
  const add = (label: string, data: string | Buffer, opts: Opts = {}) => {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    // Generated ids do not make two frames distinct.
    const norm = bytes.toString('latin1').replace(/"id":"m\d+"/g, '"id":"m"');
    const key = createHash('sha256').update(opts.binary ? 'b' : 't').update(norm, 'latin1').digest('hex');
    if (seen.has(key)) return;
    seen.add(key);
    list.push({ label, data, binary: opts.binary ?? false, code: opts.code, only: opts.only });
  };
  const env = (namespace: unknown, name: unknown, args: unknown = MISSING, rid: unknown = id()) => {
    const o: Record<string, unknown> = { namespace, name, id: rid };
    if (args !== MISSING) o.args = args;
    return JSON.stringify(o);
  };
  /** Raw envelope text around an args text (for __proto__ keys and hand-made nesting). */
  const raw = (namespace: string, name: string, argsText: string, rid = id()) =>
    `{"namespace":${JSON.stringify(namespace)},"name":${JSON.stringify(name)},"id":${JSON.stringify(rid)},"args":${argsText}}`;
  const VALID = JSON.stringify({ namespace: 'rpc', name: 'identify', id: 'valid-identify', args: {} });

  // --- not JSON -------------------------------------------------------------------------------
  const notJson: [string, string][] = [
    ['empty string', ''],
    ['one space', ' '],
    ['newline', '\n'],
    ['mixed whitespace', ' \t\r\n '],
    ['NUL', '\u0000'],
    ['open brace', '{'],
    ['close brace', '}'],
    ['open bracket', '['],
    ['close bracket', ']'],
    ['half key', '{"'],
    ['key only', '{"namespace"'],
    ['key and colon', '{"namespace":'],
    ['unterminated string', '"unterminated'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['-Infinity', '-Infinity'],
    ['undefined', 'undefined'],
    ['Python True', 'True'],
    ['Python None', 'None'],
    ['nil', 'nil'],
    ['two literals', 'null null'],
    ['two numbers', '1 2'],
    ['single quotes', "{'namespace':'rpc','name':'identify','id':'q','args':{}}"],
    ['unquoted keys', '{namespace:"rpc",name:"identify",id:"q",args:{}}'],
    ['trailing comma in object', '{"namespace":"rpc","name":"identify","id":"tc","args":{},}'],
    ['trailing comma in array', '[1,]'],
    ['leading comma in array', '[,1]'],
    ['block comment', '{"namespace":"rpc","name":"identify","id":"c"/*c*/,"args":{}}'],
    ['line comment', '// hello\n' + VALID],
    ['missing colon', '{"a" 1}'],
    ['missing comma', '{"a":1 "b":2}'],
    ['double colon', '{"a"::1}'],
    ['number key', '{1:2}'],
    ['undefined value', '{"namespace":"rpc","name":"identify","id":"u","args":undefined}'],
    ['NaN value', '{"namespace":"rpc","name":"identify","id":NaN,"args":{}}'],
    ['Infinity value', '{"namespace":"rpc","name":"identify","id":Infinity,"args":{}}'],
    ['hex number', '{"namespace":"rpc","name":"identify","id":0x10,"args":{}}'],
    ['leading zero', '{"namespace":"rpc","name":"identify","id":01,"args":{}}'],
    ['plus sign', '{"namespace":"rpc","name":"identify","id":+1,"args":{}}'],
    ['bare fraction', '{"namespace":"rpc","name":"identify","id":.5,"args":{}}'],
    ['trailing dot', '{"namespace":"rpc","name":"identify","id":1.,"args":{}}'],
    ['bad exponent', '{"namespace":"rpc","name":"identify","id":1e,"args":{}}'],
    ['lone minus', '{"namespace":"rpc","name":"identify","id":-,"args":{}}'],
    ['truncated true', '{"namespace":"rpc","name":"identify","id":tru,"args":{}}'],
    ['truncated null', '{"namespace":"rpc","name":"identify","id":nul,"args":{}}'],
    ['\\x escape', '{"namespace":"rpc","name":"identify","id":"\\x41","args":{}}'],
    ['short \\u escape', '{"namespace":"rpc","name":"identify","id":"\\u12","args":{}}'],
    ['bad escape letter', '{"namespace":"rpc","name":"identify","id":"\\q","args":{}}'],
    ['escaped closing quote', '{"namespace":"rpc","name":"identify","id":"\\","args":{}}'],
    ['raw control char in string', '{"namespace":"rpc","name":"identify","id":"a\u0001b","args":{}}'],
    ['raw newline in string', '{"namespace":"rpc","name":"identify","id":"a\nb","args":{}}'],
    ['raw tab in string', '{"namespace":"rpc","name":"identify","id":"a\tb","args":{}}'],
    ['byte order mark', '\uFEFF' + VALID],
    ['NUL before', '\u0000' + VALID],
    ['garbage after', VALID + 'x'],
    ['extra brace after', VALID + '}'],
    ['comma after', VALID + ','],
    ['two objects', VALID + VALID],
    ['NUL after', VALID + '\u0000'],
    ['bracket after', VALID + '\n]'],
    ['XML', '<request namespace="rpc" name="identify"/>'],
    ['HTTP request line', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['backslash', '\\'],
    ['JS expression', '({namespace:"rpc"})'],
    ['form encoding', 'namespace=rpc&name=identify&id=f'],
  ];
  for (const [label, text] of notJson) add(`not JSON: ${label}`, text, { code: 400 });
  for (let i = 1; i < VALID.length; i += 6) add(`not JSON: valid request truncated to ${i} chars`, VALID.slice(0, i), { code: 400 });

  // --- JSON, but not an object --------------------------------------------------------------
  const notObject: [string, string][] = [
    ['null', 'null'],
    ['true', 'true'],
    ['false', 'false'],
    ['zero', '0'],
    ['negative', '-1'],
    ['float', '3.25'],
    ['overflowing number', '1e400'],
    ['string', '"identify"'],
    ['empty JSON string', '""'],
    ['double-encoded request', JSON.stringify(VALID)],
    ['empty array', '[]'],
    ['array of empty object', '[{}]'],
    ['array of null', '[null]'],
    ['batch of one request', `[${VALID}]`],
    ['batch of two requests', `[${VALID},${VALID}]`],
    ['padded number', '  42  '],
  ];
  for (const [label, text] of notObject) add(`not an object: ${label}`, text, { code: 400 });
  add('empty object', '{}', { code: 400 });
  add('only args', JSON.stringify({ args: {} }), { code: 400 });
  add('only id', JSON.stringify({ id: 'only-id' }), { code: 400 });
  add('only namespace and name', JSON.stringify({ namespace: 'rpc', name: 'identify' }), { code: 400 });
  add('numeric id, no names', '{"id":-0}', { code: 400 });

  // --- envelope fields x bad values -----------------------------------------------------------
  const BAD: [string, unknown][] = [
    ['missing', MISSING],
    ['null', null],
    ['true', true],
    ['false', false],
    ['zero', 0],
    ['negative', -1],
    ['float', 1.5],
    ['huge number', 1e308],
    ['empty string', ''],
    ['space', ' '],
    ['NUL', '\u0000'],
    ['129 chars', 'n'.repeat(129)],
    ['257 chars', 'i'.repeat(257)],
    ['100k chars', 'L'.repeat(100_000)],
    ['empty object', {}],
    ['object', { a: 1 }],
    ['empty array', []],
    ['array', ['rpc']],
    ['array of null', [null]],
    ['emoji', '🚀'],
    ['lone surrogate', '\ud800'],
    ['upper case', 'RPC'],
    ['padded', ' rpc '],
    ['nested envelope', { namespace: 'rpc', name: 'identify', id: 'x', args: {} }],
  ];
  // Both bases fail whatever the socket's state: rpc/auth needs username and password (checked
  // before any password is), sysadm/nic has no action 'nope' (checked before authentication).
  const bases: [string, Record<string, unknown>][] = [
    ['rpc/auth {}', { namespace: 'rpc', name: 'auth', args: {} }],
    ['sysadm/nic nope', { namespace: 'sysadm', name: 'nic', args: { action: 'nope' } }],
  ];
  for (const [baseLabel, base] of bases) {
    for (const field of ['namespace', 'name', 'id', 'args']) {
      for (const [label, value] of BAD) {
        const o: Record<string, unknown> = { ...base, id: id() };
        if (value === MISSING) delete o[field];
        else o[field] = value;
        add(`${baseLabel}: ${field} ${label}`, JSON.stringify(o));
      }
    }
  }
  add('rpc/auth {}: id -0', '{"namespace":"rpc","name":"auth","id":-0,"args":{}}', { code: 400 });
  add('rpc/auth {}: id 1e400', '{"namespace":"rpc","name":"auth","id":1e400,"args":{}}', { code: 400 });
  add('rpc/auth {}: id of 256 chars', env('rpc', 'auth', {}, 'k'.repeat(ID_MAX)), { code: 400 });
  add('rpc/auth {}: id of 128 emoji (256 UTF-16 units)', env('rpc', 'auth', {}, '🚀'.repeat(128)), { code: 400 });
  add('rpc/auth {}: id of 129 emoji', env('rpc', 'auth', {}, '🚀'.repeat(129)), { code: 400 });
  add('namespace of exactly 128 chars', env('n'.repeat(128), 'identify', {}), { code: 400 });
  add('name of exactly 128 chars', env('rpc', 'n'.repeat(128), {}), { code: 400 });
  add('id, namespace and name all wrong', env(1, 2, 3, 4), { code: 400 });
  add('every field null', env(null, null, null, null), { code: 400 });

  // --- unknown namespace / class / action, and action of the wrong type -----------------------
  for (const ns of ['nope', 'sysadm2', 'RPC', 'Rpc', 'rpc/', 'rpc.', '/rpc', 'rpc/identify', 'sysadm/nic', '../rpc', '*', '%72pc', 'rpc ', 'events.']) {
    add(`unknown namespace '${ns}'`, env(ns, 'identify', {}), { code: 400 });
  }
  for (const name of ['nope', 'Identify', 'IDENTIFY', 'identify ', 'identify/', '../identify', 'identify.json', 'response', 'error', 'auth/', 'schema.json', '*']) {
    add(`unknown rpc class '${name}'`, env('rpc', name, {}), { code: 400 });
  }
  for (const name of ['nope', 'NIC', 'nic ', 'nic/list', 'nic.list', 'list']) add(`unknown sysadm class '${name}'`, env('sysadm', name, { action: 'list' }), { code: 400 });
  for (const name of ['audit', 'publish', 'nope']) add(`unknown events class '${name}'`, env('events', name, ['audit']), { code: 400 });
  const badActions: [string, unknown][] = [
    ['LIST', 'LIST'],
    ['List', 'List'],
    ['trailing space', 'list '],
    ['leading space', ' list'],
    ['trailing NUL', 'list\u0000'],
    ['prefix', 'lis'],
    ['longer', 'listt'],
    ['empty', ''],
    ['emoji', '🚀'],
    ['10k chars', 'a'.repeat(10_000)],
    ['number', 1],
    ['zero', 0],
    ['null', null],
    ['true', true],
    ['false', false],
    ['float', 1.5],
    ['empty array', []],
    ['array holding the action', ['list']],
    ['empty object', {}],
    ['object', { list: true }],
  ];
  for (const [label, action] of badActions) add(`sysadm/nic action ${label}`, env('sysadm', 'nic', { action }), { code: 400 });
  add('sysadm/nic args without action', env('sysadm', 'nic', { verbose: true }), { code: 400 });
  add('sysadm/nic action in the wrong case key', env('sysadm', 'nic', { Action: 'list' }), { code: 400 });

  // --- extra fields ---------------------------------------------------------------------------
  const extras: [string, unknown][] = [
    ['extra', 1],
    ['token', 'not-a-token'],
    ['user', 'admin'],
    ['admin', true],
    ['auth', { username: 'admin', password: adminPassword }],
    ['jsonrpc', '2.0'],
    ['method', 'rpc.identify'],
    ['params', {}],
    ['Namespace', 'rpc'],
    ['args ', { username: 'admin', password: adminPassword }],
  ];
  for (const [key, value] of extras) {
    add(`extra top-level field '${key}' on rpc/auth {}`, JSON.stringify({ namespace: 'rpc', name: 'auth', id: id(), args: {}, [key]: value }), { code: 400 });
  }
  // A token or user claimed in the envelope is no authentication.
  add('extra field token on rpc/query', JSON.stringify({ namespace: 'rpc', name: 'query', id: id(), args: {}, token: 'x', user: 'admin' }), { only: 'unauth', code: 401 });

  // --- unicode, emoji, NUL in names and ids ---------------------------------------------------
  for (const ns of ['🚀', 'rpc\u0000', '\u0000rpc', 'ｒｐｃ', 'rpc\u200b', '\u202erpc', 'r\u0300pc', 'рpc', '\uffff', '\ud83d', '\u0000']) {
    add(`unicode namespace ${JSON.stringify(ns)}`, env(ns, 'identify', {}), { code: 400 });
  }
  for (const name of ['identify\u0000', '🚀', 'ｉｄｅｎｔｉｆｙ', 'identi\u00adfy', 'іdentify', '\u0000', 'identify\u200d', '\udfff']) {
    add(`unicode rpc name ${JSON.stringify(name)}`, env('rpc', name, {}), { code: 400 });
  }
  for (const rid of ['🚀', '\u0000', 'a\u0000b', '\ud800', '\u202e', 'ｍ', '"', '\\', '</script>']) {
    add(`unicode id ${JSON.stringify(rid)} (echoed)`, env('rpc', 'auth', {}, rid), { code: 400 });
  }

  // --- __proto__ / constructor / prototype ----------------------------------------------------
  const pollute = `{"polluted":"${MARK}","admin":true,"isAdmin":true,"token":"x"}`;
  add('top-level __proto__ holding the whole request', `{"__proto__":${VALID}}`, { code: 400 });
  add('top-level __proto__ supplying id', `{"__proto__":{"id":"inherited"},"namespace":"rpc","name":"identify","args":{}}`, { code: 400 });
  add('top-level __proto__ supplying name', `{"namespace":"rpc","__proto__":{"name":"identify"},"id":"${id()}"}`, { code: 400 });
  add('top-level __proto__ beside rpc/auth {}', `{"namespace":"rpc","name":"auth","id":"${id()}","args":{},"__proto__":${pollute}}`, { code: 400 });
  add('top-level constructor.prototype beside rpc/auth {}', `{"namespace":"rpc","name":"auth","id":"${id()}","args":{},"constructor":{"prototype":${pollute}}}`, { code: 400 });
  add('top-level prototype beside rpc/auth {}', `{"namespace":"rpc","name":"auth","id":"${id()}","args":{},"prototype":${pollute}}`, { code: 400 });
  add('top-level __proto__ claiming a session on sysadm/nic list', `{"namespace":"sysadm","name":"nic","id":"${id()}","args":{"action":"list"},"__proto__":${pollute}}`, { only: 'unauth', code: 401 });
  add('top-level __proto__ claiming a session on rpc/schema', `{"namespace":"rpc","name":"schema","id":"${id()}","args":{},"__proto__":{"user":{"username":"admin","admin":true},"token":"x"}}`, { only: 'unauth', code: 401 });
  add('__proto__ supplying credentials to rpc/auth', raw('rpc', 'auth', `{"__proto__":{"username":"admin","password":${JSON.stringify(adminPassword)}}}`), { code: 400 });
  add('__proto__ beside credentials of rpc/auth', raw('rpc', 'auth', `{"username":"admin","password":"not-it","__proto__":${pollute}}`), { code: 400 });
  add('constructor.prototype in rpc/auth args', raw('rpc', 'auth', `{"constructor":{"prototype":${pollute}}}`), { code: 400 });
  add('prototype in rpc/auth args', raw('rpc', 'auth', `{"prototype":${pollute}}`), { code: 400 });
  add('__proto__ supplying a token to rpc/auth_token', raw('rpc', 'auth_token', `{"__proto__":{"token":"abc"}}`), { code: 400 });
  add('__proto__ supplying the action of sysadm/nic', raw('sysadm', 'nic', `{"__proto__":{"action":"list"}}`), { code: 400 });
  add('__proto__ beside action list', raw('sysadm', 'nic', `{"action":"list","__proto__":${pollute}}`));
  add('constructor.prototype beside action list', raw('sysadm', 'nic', `{"action":"list","constructor":{"prototype":${pollute}}}`));
  add('prototype beside action list', raw('sysadm', 'nic', `{"action":"list","prototype":${pollute}}`));
  add('__proto__ in rpc/schema args', raw('rpc', 'schema', `{"__proto__":{"namespace":"rpc"}}`));
  add('constructor in rpc/schema args', raw('rpc', 'schema', `{"constructor":{"name":"x"}}`));
  add('rpc/schema namespace __proto__', raw('rpc', 'schema', `{"namespace":"__proto__"}`));
  add('rpc/schema namespace constructor, name prototype', raw('rpc', 'schema', `{"namespace":"constructor","name":"prototype"}`));
  add('rpc/schema name toString', raw('rpc', 'schema', `{"name":"toString"}`));
  add('__proto__ supplying events to events/subscribe', raw('events', 'subscribe', `{"__proto__":{"events":["audit"]}}`));
  add('__proto__ supplying since to events/subscribe', raw('events', 'subscribe', `{"events":["audit"],"__proto__":{"since":0}}`));
  add('__proto__ chain 1000 deep in rpc/auth args', raw('rpc', 'auth', '{"__proto__":'.repeat(1000) + '{}' + '}'.repeat(1000)), { code: 400 });
  for (const ns of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', '__lookupGetter__', 'isPrototypeOf']) {
    add(`namespace '${ns}'`, env(ns, 'identify', {}), { code: 400 });
  }
  for (const ns of ['rpc', 'sysadm', 'events', '__proto__']) {
    for (const name of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf']) {
      add(`class '${ns}/${name}'`, env(ns, name, {}), { code: 400 });
    }
  }
  for (const action of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf']) {
    add(`sysadm/nic action '${action}'`, env('sysadm', 'nic', { action }), { code: 400 });
  }
  add('id __proto__ (echoed)', env('rpc', 'auth', {}, '__proto__'), { code: 400 });

  // --- schema violations (400 once signed in, 401 before) --------------------------------------
  const nicArgs: [string, string][] = [
    ['unknown field', '{"action":"list","extra":1}'],
    ['boolean field', '{"action":"list","verbose":true}'],
    ['empty key', '{"action":"list","":1}'],
    ['pointer characters in key', '{"action":"list","a/b~c":1}'],
    ['1000-char key', `{"action":"list",${JSON.stringify('k'.repeat(1000))}:1}`],
    ['null field', '{"action":"list","filter":null}'],
    ['duplicate action, last unknown', '{"action":"list","action":"nope"}'],
    ['twenty unknown fields', `{"action":"list",${Array.from({ length: 20 }, (_, i) => `"f${i}":${i}`).join(',')}}`],
  ];
  for (const [label, args] of nicArgs) add(`sysadm/nic list: ${label}`, raw('sysadm', 'nic', args));
  const schemaArgs: [string, unknown][] = [
    ['null', null],
    ['number', 1],
    ['string', 'rpc'],
    ['array', ['rpc']],
    ['namespace number', { namespace: 1 }],
    ['name array', { name: [] }],
    ['namespace 129 chars', { namespace: 'n'.repeat(129) }],
    ['name object', { name: {} }],
    ['unknown field', { class: 'rpc/identify' }],
    ['unknown namespace (404)', { namespace: 'nope' }],
    ['namespace null', { namespace: null }],
  ];
  for (const [label, args] of schemaArgs) add(`rpc/schema args ${label}`, env('rpc', 'schema', args));
  const subArgs: [string, unknown][] = [
    ['empty array', []],
    ['number item', [1]],
    ['empty string item', ['']],
    ['65-char item', ['e'.repeat(65)]],
    ['17 items', Array(17).fill('audit')],
    ['known type and a number', ['audit', 1]],
    ['nested array', [['audit']]],
    ['null item', [null]],
    ['empty events', { events: [] }],
    ['events a string', { events: 'audit' }],
    ['events missing', { since: 0 }],
    ['negative since', { events: ['audit'], since: -1 }],
    ['fractional since', { events: ['audit'], since: 1.5 }],
    ['string since', { events: ['audit'], since: '0' }],
    ['null since', { events: ['audit'], since: null }],
    ['extra field', { events: ['audit'], extra: 1 }],
    ['null', null],
    ['number', 5],
    ['empty string', ''],
    ['true', true],
  ];
  for (const [label, args] of subArgs) add(`events/subscribe args ${label}`, env('events', 'subscribe', args));
  add('events/subscribe since 1e400', raw('events', 'subscribe', '{"events":["audit"],"since":1e400}'));
  const unsubArgs: [string, unknown][] = [
    ['number item', [1]],
    ['17 items', Array(17).fill('audit')],
    ['events a string', { events: 'audit' }],
    ['extra field', { events: [], all: true }],
    ['number', 3],
  ];
  for (const [label, args] of unsubArgs) add(`events/unsubscribe args ${label}`, env('events', 'unsubscribe', args));
  for (const [name, args] of [['identify', 5], ['identify', true], ['identify', 1.5], ['query', 7], ['query', false], ['auth_clear', 9], ['auth_clear', true]] as const) {
    add(`rpc/${name} args ${JSON.stringify(args)}`, env('rpc', name, args));
  }
  const authArgs: [string, unknown][] = [
    ['no password', { username: 'admin' }],
    ['no username', { password: 'x' }],
    ['empty password', { username: 'admin', password: '' }],
    ['empty username', { username: '', password: 'x' }],
    ['65-char username', { username: 'u'.repeat(65), password: 'x' }],
    ['1025-char password', { username: 'admin', password: 'p'.repeat(1025) }],
    ['numbers', { username: 1, password: 2 }],
    ['password array', { username: 'admin', password: [adminPassword] }],
    ['extra field with the right password', { username: 'admin', password: adminPassword, remember: true }],
    ['sysadm array form', ['admin', adminPassword]],
    ['string', `admin:${adminPassword}`],
  ];
  for (const [label, args] of authArgs) add(`rpc/auth args ${label}`, env('rpc', 'auth', args), { code: 400 });
  const tokenArgs: [string, unknown][] = [
    ['empty', {}],
    ['empty token', { token: '' }],
    ['number token', { token: 1 }],
    ['257-char token', { token: 't'.repeat(257) }],
    ['extra field', { token: 't', x: 1 }],
  ];
  for (const [label, args] of tokenArgs) add(`rpc/auth_token args ${label}`, env('rpc', 'auth_token', args), { code: 400 });

  // --- deep nesting ---------------------------------------------------------------------------
  for (const depth of [10_000, 100_000]) {
    for (const [kind, deep] of [
      ['arrays', '['.repeat(depth) + ']'.repeat(depth)],
      ['objects', '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)],
    ] as const) {
      const k = `${depth} nested ${kind}`;
      add(`${k}: the whole frame`, deep, { code: 400 });
      add(`${k}: as rpc/auth args`, raw('rpc', 'auth', deep), { code: 400 });
      add(`${k}: as rpc/auth username`, raw('rpc', 'auth', `{"username":${deep},"password":"x"}`), { code: 400 });
      add(`${k}: beside sysadm/nic action list`, raw('sysadm', 'nic', `{"action":"list","x":${deep}}`));
      add(`${k}: as sysadm/nic action`, raw('sysadm', 'nic', `{"action":${deep}}`), { code: 400 });
      add(`${k}: as events/subscribe item`, raw('events', 'subscribe', `[${deep}]`));
      add(`${k}: as events/subscribe events`, raw('events', 'subscribe', `{"events":${deep}}`));
      add(`${k}: as rpc/schema namespace`, raw('rpc', 'schema', `{"namespace":${deep}}`));
      add(`${k}: as unknown namespace args`, raw('nope', 'nope', deep), { code: 400 });
      add(`${k}: as id`, `{"namespace":"rpc","name":"auth","id":${deep},"args":{}}`, { code: 400 });
      add(`${k}: as namespace`, `{"namespace":${deep},"name":"identify","id":"${id()}","args":{}}`, { code: 400 });
      add(`${k}: unbalanced`, deep.slice(0, -1), { code: 400 });
      add(`${k}: trailing garbage`, deep + ']', { code: 400 });
    }
  }
  add('100000 nested arrays, never closed', '['.repeat(100_000), { code: 400 });
  add('100000 nested objects, never closed', '{"a":'.repeat(100_000), { code: 400 });
  add('arrays nested 524288 deep: exactly max_frame_bytes', '['.repeat(MAX / 2) + ']'.repeat(MAX / 2), { code: 400 });

  // --- huge strings around max_frame_bytes -----------------------------------------------------
  const pad = (prefix: string, suffix: string, total: number, ch = 'x') => {
    const room = total - Buffer.byteLength(prefix + suffix);
    const unit = Buffer.byteLength(ch);
    return prefix + ch.repeat(Math.floor(room / unit)) + 'x'.repeat(room % unit) + suffix;
  };
  const huge = (label: string, text: string, code: number) => {
    add(`${label} (${Buffer.byteLength(text)} bytes)`, text, { code });
  };
  huge('username string: frame of exactly max_frame_bytes', pad(`{"namespace":"rpc","name":"auth","id":"${id()}","args":{"username":"`, '"}}', MAX), 400);
  huge('password string: frame of max_frame_bytes - 1', pad(`{"namespace":"rpc","name":"auth","id":"${id()}","args":{"username":"admin","password":"`, '"}}', MAX - 1), 400);
  huge('id string: frame of max_frame_bytes - 1', pad('{"namespace":"rpc","name":"auth","args":{},"id":"', '"}', MAX - 1), 400);
  huge('namespace string: frame of max_frame_bytes', pad('{"name":"identify","id":"h-ns","args":{},"namespace":"', '"}', MAX), 400);
  huge('action string: frame of max_frame_bytes', pad(`{"namespace":"sysadm","name":"nic","id":"${id()}","args":{"action":"`, '"}}', MAX), 400);
  huge('2-byte characters: frame of exactly max_frame_bytes', pad(`{"namespace":"rpc","name":"auth","id":"${id()}","args":{"username":"`, '"}}', MAX, 'é'), 400);
  huge('4-byte characters: frame of exactly max_frame_bytes', pad(`{"namespace":"rpc","name":"auth","id":"${id()}","args":{"username":"`, '"}}', MAX, '😀'), 400);
  huge('unterminated string: frame of exactly max_frame_bytes', pad('{"namespace":"rpc","name":"identify","id":"h-open","args":"', '', MAX), 400);
  add('invalid UTF-8 as the last byte of a max_frame_bytes frame', Buffer.concat([Buffer.from(pad('{"namespace":"rpc","name":"identify","id":"h-u8b","args":"', '', MAX - 3)), Buffer.from([0x22, 0x7d, 0xff])]), { code: 400 });
  huge('username string: frame of max_frame_bytes + 1', pad(`{"namespace":"rpc","name":"auth","id":"over-1","args":{"username":"`, '"}}', MAX + 1), 413);
  huge('identify with huge args: frame of max_frame_bytes + 1', pad('{"namespace":"rpc","name":"identify","id":"over-2","args":"', '"}', MAX + 1), 413);
  huge('2-byte characters: fewer chars than max_frame_bytes, more bytes', pad('{"namespace":"rpc","name":"identify","id":"over-3","args":"', '"}', MAX + 2, 'é'), 413);
  huge('garbage: max_frame_bytes + 1', 'x'.repeat(MAX + 1), 413);
  huge('garbage: 2 x max_frame_bytes', '{'.repeat(2 * MAX), 413);
  huge('identify with huge args: exactly the hard limit (4 x max_frame_bytes)', pad('{"namespace":"rpc","name":"identify","id":"over-4","args":"', '"}', HARD), 413);
  add('invalid UTF-8, max_frame_bytes + 1 bytes', Buffer.alloc(MAX + 1, 0xff), { code: 413 });

  // --- invalid UTF-8 in text frames ------------------------------------------------------------
  const BAD_UTF8: [string, number[]][] = [
    ['0xFF', [0xff]],
    ['0xFE', [0xfe]],
    ['lone continuation byte', [0x80]],
    ['overlong NUL', [0xc0, 0x80]],
    ['overlong slash', [0xc0, 0xaf]],
    ['overlong C1 lead', [0xc1, 0xbf]],
    ['overlong 3-byte', [0xe0, 0x80, 0xaf]],
    ['overlong 4-byte', [0xf0, 0x80, 0x80, 0xaf]],
    ['UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['CESU-8 emoji', [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['0xF5 lead byte', [0xf5, 0x80, 0x80, 0x80]],
    ['5-byte form', [0xf8, 0x88, 0x80, 0x80, 0x80]],
    ['truncated 2-byte', [0xc3]],
    ['truncated 3-byte', [0xe2, 0x82]],
    ['truncated 4-byte', [0xf0, 0x9f, 0x98]],
    ['Latin-1 e-acute', [0xe9]],
  ];
  for (const [label, bytes] of BAD_UTF8) {
    const b = Buffer.from(bytes);
    const t = (s: string) => Buffer.from(s);
    add(`invalid UTF-8 ${label}: alone`, b, { code: 400 });
    // A daemon that decoded these leniently would answer identify with a response.
    add(`invalid UTF-8 ${label}: in identify args`, Buffer.concat([t('{"namespace":"rpc","name":"identify","id":"u8-args","args":"'), b, t('"}')]), { code: 400 });
    add(`invalid UTF-8 ${label}: in id`, Buffer.concat([t('{"namespace":"rpc","name":"identify","args":{},"id":"u8-'), b, t('"}')]), { code: 400 });
    add(`invalid UTF-8 ${label}: in namespace`, Buffer.concat([t('{"name":"identify","id":"u8-ns","args":{},"namespace":"rpc'), b, t('"}')]), { code: 400 });
  }
  add('invalid UTF-8 in a key', Buffer.concat([Buffer.from('{"namespace":"rpc","name":"identify","id":"u8-key","args":{},"'), Buffer.from([0xff]), Buffer.from('":1}')]), { code: 400 });
  add('UTF-16LE encoded request', Buffer.from(VALID, 'utf16le'), { code: 400 });

  // --- binary frames ---------------------------------------------------------------------------
  add('binary: valid identify request', Buffer.from(VALID), { binary: true, code: 400 });
  add('binary: empty', Buffer.alloc(0), { binary: true, code: 400 });
  add('binary: random bytes', createHash('sha512').update('seed').digest(), { binary: true, code: 400 });
  add('binary: invalid UTF-8', Buffer.from([0xff, 0xfe, 0xfd]), { binary: true, code: 400 });
  add('binary: 10000 zero bytes', Buffer.alloc(10_000), { binary: true, code: 400 });
  add('binary: MessagePack-like map', Buffer.from([0x84, 0xa9, ...Buffer.from('namespace'), 0xa3, ...Buffer.from('rpc')]), { binary: true, code: 400 });
  add('binary: max_frame_bytes + 1', Buffer.alloc(MAX + 1, 0x7b), { binary: true });

  return list;
}

// ---------------------------------------------------------------------------------------------
// Checking replies

/** The id a reply must carry: the request's when it is a usable one, else "". */
function expectedId(c: Case): string | number {
  if (c.binary) return '';
  const buf = typeof c.data === 'string' ? Buffer.from(c.data) : c.data;
  if (buf.length > MAX || !isUtf8(buf)) return '';
  let m: unknown;
  try {
    m = JSON.parse(buf.toString('utf8'));
  } catch {
    return '';
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m) || !Object.hasOwn(m, 'id')) return '';
  const rid = (m as { id: unknown }).id;
  if (typeof rid === 'string' && rid.length <= ID_MAX) return rid;
  // The daemon also echoes numeric ids (sysadm clients may send them); -0 travels as 0.
  if (typeof rid === 'number' && Number.isFinite(rid)) return JSON.parse(JSON.stringify(rid));
  return '';
}

function checkError(c: Case, reply: Frame): void {
  const shown = JSON.stringify(reply).slice(0, 300);
  assert.deepEqual(Object.keys(reply).sort(), ['args', 'id', 'name', 'namespace'], `envelope keys: ${shown}`);
  assert.equal(typeof reply.namespace, 'string', shown);
  assert.equal(reply.name, 'error', `expected an error: ${shown}`);
  assert.ok(reply.args && typeof reply.args === 'object', shown);
  assert.deepEqual(Object.keys(reply.args).sort(), ['code', 'details', 'message', 'reason'], `error args keys: ${shown}`);
  const code = reply.args.code;
  assert.ok(Number.isInteger(code) && code >= 400 && code <= 413, `code ${code} not in 400..413: ${shown}`);
  if (c.code !== undefined) assert.equal(code, c.code, `expected code ${c.code}: ${shown}`);
  assert.equal(typeof reply.args.message, 'string', shown);
  assert.ok(Array.isArray(reply.args.details), `details not an array: ${shown}`);
  assert.deepEqual(reply.id, expectedId(c), `id: ${shown}`);
  assert.ok(!JSON.stringify(reply).includes(MARK), `reply carries the pollution marker: ${shown}`);
}

/**
 * Sends every case on `sock`, each followed by an identify sentinel: the sentinel's reply must
 * be the very next frame, so a second reply to a malformed frame cannot go unnoticed.
 */
async function runAll(sock: RawSocket, side: Side): Promise<number> {
  let sent = 0;
  for (const [i, c] of cases.entries()) {
    if (c.only && c.only !== side) continue;
    sent++;
    const where = `[${side}] #${i} ${c.label}`;
    sock.send(c.data, c.binary);
    let reply: Frame;
    try {
      reply = await sock.next(REPLY_MS);
    } catch {
      problems[side].push(`${where}: no reply within ${REPLY_MS} ms${sock.closed ? ` (closed ${sock.closed.code})` : ''}`);
      return sent; // the stream is out of step from here on
    }
    if (typeof reply.args?.code === 'number') codes[side][reply.args.code] = (codes[side][reply.args.code] ?? 0) + 1;
    try {
      checkError(c, reply);
    } catch (err) {
      problems[side].push(`${where}: ${(err as Error).message.split('\n')[0]}`);
    }
    const sid = `sentinel-${side}-${i}`;
    sock.send(JSON.stringify({ namespace: 'rpc', name: 'identify', id: sid, args: {} }));
    let s: Frame;
    try {
      s = await sock.next(REPLY_MS);
    } catch {
      problems[side].push(`${where}: sentinel got no reply${sock.closed ? ` (closed ${sock.closed.code})` : ''}`);
      return sent;
    }
    if (s.id !== sid || s.name !== 'response') {
      problems[side].push(`${where}: a second frame arrived before the sentinel reply: ${JSON.stringify(s).slice(0, 300)}`);
      return sent;
    }
  }
  // Nothing may trail the last sentinel either. (No short next() timeout here: RawSocket keeps a
  // timed-out waiter, which would swallow the next frame on this socket.)
  await sleep(200);
  const last = await sock.request('rpc', 'identify', {}, `sentinel-${side}-last`);
  if (last.id !== `sentinel-${side}-last`) problems[side].push(`[${side}] stray frame after the last case: ${JSON.stringify(last).slice(0, 300)}`);
  return sent;
}

async function signIn(sock: RawSocket): Promise<void> {
  const r = await sock.request('rpc', 'auth', { username: 'admin', password: d.adminPassword }, 'login');
  assert.equal(r.name, 'response', JSON.stringify(r));
}

// ---------------------------------------------------------------------------------------------
// Tests

test('the suite holds at least 200 distinct malformed frames', (t) => {
  t.diagnostic(`${cases.length} distinct frames (${cases.filter((c) => !c.only).length} sent on both sockets)`);
  assert.ok(cases.length >= 200, `only ${cases.length} frames`);
});

test('unauthenticated: each malformed frame gets exactly one 4xx error reply with the right id', async (t) => {
  const sock = await RawSocket.open(d.url);
  const sent = await runAll(sock, 'unauth');
  t.diagnostic(`${sent} frames sent; replies by code: ${JSON.stringify(codes.unauth)}`);
  assert.deepEqual(problems.unauth, []);
  assert.equal(sock.closed, null, 'the daemon kept the connection open');
  sock.close();
});

test('authenticated: each malformed frame gets exactly one 4xx error reply with the right id', async (t) => {
  const sock = await RawSocket.open(d.url);
  await signIn(sock);
  const sent = await runAll(sock, 'auth');
  t.diagnostic(`${sent} frames sent; replies by code: ${JSON.stringify(codes.auth)}`);
  assert.deepEqual(problems.auth, []);
  assert.equal(sock.closed, null, 'the daemon kept the connection open');
  // The session survived all of it.
  const r = await sock.request('sysadm', 'nic', { action: 'list' }, 'after-all');
  assert.equal(r.name, 'response', JSON.stringify(r).slice(0, 300));
  sock.close();
});

for (const [label, binary] of [['text', false], ['binary', true]] as const) {
  test(`a ${label} frame over the hard limit closes the connection with 1009 and no reply`, async () => {
    const sock = await RawSocket.open(d.url);
    sock.send(Buffer.alloc(HARD + 1, 0x20), binary);
    const closed = await sock.waitClosed(REPLY_MS);
    assert.equal(closed.code, 1009);
    const f = await sock.next(50).then(
      (fr) => fr,
      () => null,
    );
    assert.equal(f, null, `no reply expected, got ${JSON.stringify(f)}`);
  });
}

test('afterwards the daemon is alive, identifies itself, serves nic list, and nothing is polluted', async () => {
  assert.equal(d.proc.exitCode, null, 'daemon exited');
  assert.equal(d.proc.signalCode, null, 'daemon killed');

  const anon = await RawSocket.open(d.url);
  const who = await anon.request('rpc', 'identify', {}, 'final-identify');
  assert.deepEqual(Object.keys(who).sort(), ['args', 'id', 'name', 'namespace']);
  assert.equal(who.name, 'response');
  assert.equal(who.id, 'final-identify');
  assert.deepEqual(Object.keys(who.args).sort(), ['hostname', 'type', 'version']);
  assert.equal(who.args.type, 'server');
  // __proto__ payloads did not sign anybody in.
  const denied = await anon.request('rpc', 'query', {}, 'final-401');
  assert.equal(denied.name, 'error');
  assert.equal(denied.args.code, 401);
  assert.deepEqual(Object.keys(denied.args).sort(), ['code', 'details', 'message', 'reason']);
  anon.close();

  const sock = await RawSocket.open(d.url);
  await signIn(sock);
  const nics = await sock.request('sysadm', 'nic', { action: 'list' }, 'final-nic');
  assert.equal(nics.name, 'response', JSON.stringify(nics).slice(0, 300));
  assert.equal(nics.id, 'final-nic');
  assert.deepEqual(Object.keys(nics.args).sort(), ['host_nics', 'other_nics']);
  const query = await sock.request('rpc', 'query', {}, 'final-query');
  assert.equal(query.name, 'response');
  for (const [k, v] of Object.entries(query.args)) {
    assert.match(k, /^[a-z_]+\/[a-z_]+$/, `odd class key ${k}`);
    assert.ok(v === 'read' || v === 'read/write', `odd access ${k}: ${String(v)}`);
  }
  const schema = await sock.request('rpc', 'schema', {}, 'final-schema');
  assert.equal(schema.name, 'response');
  assert.deepEqual(Object.keys(schema.args).sort(), Object.keys(query.args).sort());
  const err = await sock.request('nope', 'nope', {}, 'final-error');
  assert.deepEqual(Object.keys(err.args).sort(), ['code', 'details', 'message', 'reason']);
  for (const f of [who, denied, nics, query, schema, err]) assert.ok(!JSON.stringify(f).includes(MARK), 'pollution marker in a reply');
  sock.close();

  // The suite sent no schema-valid failed logins, so 127.0.0.1 must not have been blocked, and
  // nothing it sent may have been logged as an internal error.
  const client = await d.client();
  client.close();
  assert.doesNotMatch(d.output(), /^\S+ error /m, 'the daemon logged an error');
  assert.doesNotMatch(d.output(), /internal error/);
});
