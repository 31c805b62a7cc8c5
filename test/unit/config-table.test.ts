import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_KEYS, CONFIG_SCHEMA, ConfigError, defaultConfig, loadConfig } from '../../src/core/config.js';
import { readmeConfigTable, renderConfigTable } from '../../src/core/config-docs.js';
import { ROOT } from '../helpers/daemon.js';

const STALE = 'out of date with CONFIG_KEYS in src/core/config.ts: run `npm run docs:config`';

function withConfigFile(content: unknown): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'hyved-config-')), 'config.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

function loadError(content: unknown): string {
  try {
    loadConfig({ config: withConfigFile(content) });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail(`accepted ${JSON.stringify(content)}`);
}

test("the README's configuration table is the one rendered from the key table", () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  assert.equal(readmeConfigTable(readme), renderConfigTable(), `README.md ${STALE}`);
});

test('schemas/config.json is the schema built from the key table', () => {
  const file = JSON.parse(readFileSync(path.join(ROOT, 'schemas/config.json'), 'utf8'));
  assert.deepEqual(file, CONFIG_SCHEMA, `schemas/config.json ${STALE}`);
});

test('every key has a schema, a default and a one-line doc', () => {
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    assert.ok(Object.keys(spec.schema).length > 0, `${key}: schema`);
    assert.ok(Object.hasOwn(spec, 'default'), `${key}: default`);
    assert.match(spec.doc, /^[^\n]+$/, `${key}: doc`);
  }
  assert.deepEqual(Object.keys(CONFIG_SCHEMA.properties as object), Object.keys(CONFIG_KEYS));
});

test('the defaults pass the schema and load back to what no file loads', () => {
  const file = withConfigFile(defaultConfig());
  assert.deepEqual(loadConfig({ config: file }), loadConfig());
});

test('an unknown key and a wrongly typed nested key are refused by name', () => {
  const message = loadError({ colour: 'red', qemu: { binary: 3 }, tls: { cert: 'c.pem' }, vm: { status_timeout_ms: 1 } });
  assert.match(message, /^ {2}\/colour: is not a known field$/m);
  assert.match(message, /^ {2}\/qemu\/binary: must be string$/m);
  assert.match(message, /^ {2}\/tls\/key: is required$/m);
  assert.match(message, /^ {2}\/vm\/status_timeout_ms: must be >= 10$/m);
  assert.match(loadError({ storage_grades: {} }), /\/storage_grades: must NOT have fewer than 1 properties/);
});

test('a file sets single fields of an object key; maps replace the default; paths resolve as before', () => {
  const config = loadConfig({
    config: withConfigFile({ vm: { stop_timeout_s: 5 }, storage_grades: { fast: '/ssd', slow: 'slow' }, groups: { lab: {} }, iso: { import_dirs: ['isos'] } }),
    stateDir: 'st',
  });
  assert.deepEqual(config.vm, { stop_timeout_s: 5, status_timeout_ms: 2000 });
  assert.equal(config.state_dir, path.resolve('st'));
  assert.deepEqual(config.storage_grades, { fast: '/ssd', slow: path.resolve('st', 'slow') });
  assert.deepEqual(config.groups, { default: {}, lab: {} });
  assert.deepEqual(config.iso.import_dirs, [path.resolve('isos')]);
  assert.equal(config.tls, undefined);

  const bare = loadConfig({ stateDir: 'st' });
  assert.deepEqual(bare.storage_grades, { standard: path.resolve('st', 'discs') });
  assert.deepEqual(bare.groups, { default: {} });
  assert.equal(bare.validate_results, false);
  const root = process.platform === 'freebsd' ? '/var/db/hyved' : '/var/lib/hyved';
  assert.equal(loadConfig().state_dir, path.resolve(process.getuid?.() === 0 ? root : 'var'));
});
