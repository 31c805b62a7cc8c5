import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Router } from '../../src/server/router.js';
import type { DaemonServices } from '../../src/server/services.js';

// Loading needs no service: handlers only get them when called.
const services = {} as DaemonServices;

test('start-up fails on a module whose default export is not an action, naming it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyved-router-'));
  await writeFile(path.join(dir, 'helper.js'), 'export const x = 1;\n');
  await writeFile(path.join(dir, 'broken.js'), 'export default { name: "oops" };\n');
  await assert.rejects(new Router().load(services, dir), /broken\.js: its default export is not an action/);
});

test('start-up fails when action schemas have no module, naming the schema files', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyved-router-'));
  await writeFile(path.join(dir, 'helper.js'), 'export const x = 1;\n');
  await assert.rejects(new Router().load(services, dir), /schemas without an action module: .*schemas\/sysadm\/vm\/create\.json/);
});
