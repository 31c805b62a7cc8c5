import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import http from 'node:http';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { HyvedClient } from '../src/client/client.js';
import { ROOT, runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { MARKER, installGuest } from './helpers/guest.js';
import { fixture, writeOva } from './helpers/ova.js';
import { LOOPBACK, startIsoServer, type IsoServer } from './helpers/servers.js';

/** Debian's chromium-headless-shell (.ci/run installs it); no browser is downloaded. */
const CHROMIUM = process.env.HYVED_CHROMIUM ?? '/usr/bin/chromium-headless-shell';
/** Screenshots for a person to look at; not committed (dist/ is ignored). */
const SHOTS = path.join(ROOT, 'dist/test-artifacts/dashboard');
const TIMEOUT = 30_000;

let d: TestDaemon;
let browser: Browser;
let page: Page;
let client: HyvedClient;
let isos: IsoServer;
const pageErrors: string[] = [];

async function signIn(p: Page, user: string, password: string): Promise<void> {
  await p.getByLabel('User name').fill(user);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

const row = (p: Page, name: string) => p.locator(`[data-vm="${name}"]`);
const stateOf = (p: Page, name: string) => row(p, name).locator('[data-state]');
/** A VM row's CPUs and memory cells. textContent, not innerText: rows out of view are not rendered (content-visibility). */
const sizesOf = async (p: Page, name: string) => (await row(p, name).locator('[role="cell"]').allTextContents()).slice(1, 3);
const actionsOf = (p: Page, name: string) => row(p, name).locator('button[data-action]').evaluateAll((bs) => bs.map((b) => b.getAttribute('data-action')));

/** The text xterm shows, read from its DOM rows (the default renderer). */
const terminalText = (p: Page) => p.locator('[data-terminal] .xterm-rows').innerText();

async function waitForTerminal(p: Page, pattern: RegExp, ms: number): Promise<string> {
  const end = Date.now() + ms;
  let text = '';
  while (Date.now() < end) {
    text = await terminalText(p).catch(() => '');
    if (pattern.test(text)) return text;
    await p.waitForTimeout(200);
  }
  assert.fail(`terminal never showed ${pattern}; it shows:\n${text}`);
}

/** A TCP relay to a daemon (`to`, set once it runs), whose connections the test can cut and let come back. */
async function relay(): Promise<{ port: number; to: string; cut(): Promise<void>; resume(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const target = new URL(r.to);
    const outbound = net.connect(Number(target.port), target.hostname);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        inbound.destroy();
        outbound.destroy();
        sockets.delete(s);
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await listen(0);
  const r = {
    port: (server.address() as net.AddressInfo).port,
    to: '',
    async cut() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
    resume: () => listen(r.port),
  };
  return r;
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium-headless-shell`);
  d = await startDaemon({ iso: { allow_private: LOOPBACK } });
  await installGuest(d.stateDir);
  const r = await runHyved(['user', 'add', 'viewer', '--perm', 'vm.view', '--password-stdin', '--config', d.configFile], 'viewer-pass-1\n');
  assert.equal(r.code, 0, r.stderr);
  client = await d.client();
  isos = await startIsoServer(4 * 1024 * 1024);
  await mkdir(SHOTS, { recursive: true });
  // As root Chromium's sandbox cannot start.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
  page.on('pageerror', (e) => pageErrors.push(String(e)));
});

after(async () => {
  await browser?.close();
  client?.close();
  await isos?.close();
  await d?.stop();
});

test('GET / serves the page with a strict CSP; hashed assets are immutable and compressed; other paths 404', async () => {
  const res = await fetch(`${d.url}/`, { headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:/);
  assert.match(csp, /default-src 'none'/);
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  const html = await res.text();
  assert.doesNotMatch(html, /<script>/, 'no inline script');
  const asset = /src="(\/assets\/app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
  assert.ok(asset, html);
  const js = await fetch(`${d.url}${asset}`, { headers: { 'Accept-Encoding': 'br' } });
  assert.equal(js.status, 200);
  assert.equal(js.headers.get('content-encoding'), 'br');
  assert.match(js.headers.get('cache-control') ?? '', /immutable/);
  assert.match(js.headers.get('content-type') ?? '', /javascript/);
  for (const p of ['/assets/nope.js', '/assets/..%2fpackage.json', '/assets/../../package.json', '/assets/index.html', '/assets/']) {
    assert.equal((await fetch(`${d.url}${p}`)).status, 404, p);
  }
});

test('sign in: a wrong password shows the server message, the right one shows the VM list', async () => {
  await page.goto(`${d.url}/`);
  await signIn(page, 'admin', 'not-the-password');
  await page.getByRole('alert').filter({ hasText: /password|credentials|authenticat/i }).waitFor();
  await signIn(page, 'admin', d.adminPassword);
  await page.getByRole('heading', { name: 'Virtual machines' }).waitFor();
  assert.ok(await page.evaluate(() => sessionStorage.getItem('hyved.token')), 'token kept in sessionStorage');
});

test('a VM another client creates appears live, and goes when it deletes it', async () => {
  const { vmid } = await client.call<{ vmid: string }>('sysadm', 'vm', { action: 'create', name: 'other', gid: 'default', cpus: 2, memory_mib: 128 });
  await stateOf(page, 'other').filter({ hasText: 'STOPPED' }).waitFor();
  assert.deepEqual(await sizesOf(page, 'other'), ['2', '128 MiB']);
  assert.deepEqual(await actionsOf(page, 'other'), ['start', 'delete']);
  await client.call('sysadm', 'vm', { action: 'delete', vmid });
  await row(page, 'other').waitFor({ state: 'detached' });
});

test('the create dialog shows the server validation error inline, then creates the VM', async () => {
  await page.getByRole('button', { name: 'Create VM' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create a virtual machine' });
  await dialog.waitFor();
  await dialog.getByLabel('Name').fill('bad name!');
  await dialog.getByLabel('Memory (MiB)').fill('256');
  // No disc: the guest boots its kernel directly.
  await dialog.getByRole('button', { name: 'Remove disc 1' }).click();
  await dialog.getByLabel('Graphical display (VNC)').selectOption('1024x768');
  await dialog.getByRole('button', { name: 'Create' }).click();
  const fieldError = dialog.locator('#f-name ~ .field-error');
  await fieldError.waitFor();
  assert.match(await fieldError.innerText(), /\/name .*pattern/);
  assert.equal(await dialog.getByLabel('Name').getAttribute('aria-invalid'), 'true');
  await page.screenshot({ path: path.join(SHOTS, 'create-dialog.png') });

  await dialog.getByLabel('Name').fill('dash');
  await dialog.getByLabel('Firmware').selectOption('BIOS');
  await dialog.getByText('More options').click();
  await dialog.getByLabel('Kernel', { exact: true }).fill('vmlinuz');
  await dialog.getByLabel('Initrd').fill('initrd.gz');
  await dialog.getByLabel('Kernel command line').fill('console=ttyS0 panic=-1 quiet');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await dialog.waitFor({ state: 'detached' });
  await stateOf(page, 'dash').filter({ hasText: 'STOPPED' }).waitFor();
  assert.deepEqual(await actionsOf(page, 'dash'), ['start', 'delete']);
});

test('start from the list: the state changes without a reload and the buttons follow it', async () => {
  await row(page, 'dash').getByRole('button', { name: 'Start dash' }).click();
  await stateOf(page, 'dash').filter({ hasText: 'RUNNING' }).waitFor();
  await row(page, 'dash').locator('button[data-action="pause"]').waitFor();
  assert.deepEqual((await actionsOf(page, 'dash')).sort(), ['pause', 'reboot', 'stop']);
  await page.screenshot({ path: path.join(SHOTS, 'vm-list.png') });
});

test('the serial console shows the boot marker and a typed command its output', async () => {
  await row(page, 'dash').getByRole('link', { name: 'dash' }).click();
  await page.getByRole('heading', { name: 'dash' }).waitFor();
  await page.getByRole('button', { name: 'Serial console' }).click();
  await page.locator('[data-console-status]').filter({ hasText: 'Connected' }).waitFor();
  await waitForTerminal(page, new RegExp(MARKER), 90_000);
  await waitForTerminal(page, /guest# /, 30_000);
  await page.locator('[data-terminal]').click();
  await page.keyboard.type('echo $((6*7))\n');
  await waitForTerminal(page, /^42$/m, 20_000);
  await page.screenshot({ path: path.join(SHOTS, 'vm-console.png') });
});

test('the VNC pane connects noVNC to the VM display', async () => {
  await page.getByRole('button', { name: 'Display (VNC)' }).click();
  await page.locator('[data-vnc-status]').filter({ hasText: 'Connected' }).waitFor();
  assert.equal(await page.locator('.vnc canvas').count(), 1);
  await page.screenshot({ path: path.join(SHOTS, 'vm-vnc.png') });
});

test('pause, resume and stop from the VM page', async () => {
  const state = page.locator('.titlebar [data-state]');
  const vmid = decodeURIComponent(new URL(page.url()).hash.replace('#/vm/', ''));
  for (const [button, want] of [['Pause dash', 'PAUSED'], ['Resume dash', 'RUNNING'], ['Stop dash', 'STOPPED']]) {
    await page.getByRole('button', { name: button }).click();
    // Longer than the daemon's stop_timeout_s (60), after which it powers a guest that did not
    // shut down off; says what the daemon saw should the page not show the state.
    await state
      .filter({ hasText: new RegExp(`^${want}$`) })
      .waitFor({ timeout: 90_000 })
      .catch(async (e: Error) => assert.fail(`${e.message}\nthe page shows ${await state.innerText()}; the daemon says ${(await client.call<{ state: string }>('sysadm', 'vm', { action: 'info', vmid })).state}`));
  }
  await page.getByRole('button', { name: 'Start dash' }).waitFor();
});

test('fetch an ISO by URL: the progress bar reaches 100% and the ISO is listed', async () => {
  await page.getByRole('link', { name: 'ISO store' }).click();
  await page.getByLabel('URL').fill(`${isos.url}/big.iso`);
  await page.getByLabel('Store as').fill('fetched.iso');
  await page.getByRole('button', { name: 'Fetch', exact: true }).click();
  const bar = page.locator('.fetch progress');
  await bar.waitFor();
  await page.locator('.fetch').filter({ hasText: 'success' }).waitFor();
  assert.equal(await bar.getAttribute('value'), '100');
  await page.locator('tr[data-iso="fetched.iso"]').waitFor();

  // A slow fetch, cancelled from the task list.
  await page.getByLabel('URL').fill(`${isos.url}/slow.iso`);
  await page.getByRole('button', { name: 'Fetch', exact: true }).click();
  await page.getByRole('link', { name: 'Tasks' }).click();
  const slow = page.locator('[data-task-row]').filter({ hasText: 'slow.iso' });
  await slow.getByRole('button', { name: 'Cancel' }).click();
  await slow.filter({ hasText: 'canceled' }).waitFor();
  await page.locator('[data-task-row]').filter({ hasText: 'success' }).first().waitFor();
});

test('images: upload an OVA (progress to 100%), fetch one by URL; a broken upload shows the server\'s message', async () => {
  const work = await tempDir('hyved-dash-ova-');
  const vmdk = path.join(work, 'disk.vmdk');
  await promisify(execFile)('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', 'subformat=streamOptimized', vmdk, '16M']);
  const ovf = (await fixture('vmware-1.0.ovf')).replace(/ovf:size="\d+"/, `ovf:size="${(await stat(vmdk)).size}"`).replace(/ovf:href="[^"]+"/, 'ovf:href="disk1.vmdk"');
  await writeOva(path.join(work, 'appliance.ova'), 'appliance.ovf', ovf, [{ name: 'disk1.vmdk', file: vmdk }]);
  await writeFile(path.join(work, 'broken.ova'), Buffer.alloc(64 * 1024, 7));

  await page.getByRole('link', { name: 'Images' }).click();
  await page.getByLabel('OVA file').setInputFiles(path.join(work, 'appliance.ova'));
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.locator('[data-upload]').filter({ hasText: 'stored as' }).waitFor();
  assert.equal(await page.locator('[data-upload] progress').getAttribute('value'), '100');
  await page.locator('tr[data-image="images/appliance.ova"]').waitFor();

  // The same OVA by URL, into the store under another name.
  const served = http.createServer((_req, res) => createReadStream(path.join(work, 'appliance.ova')).pipe(res));
  await new Promise<void>((resolve) => served.listen(0, '127.0.0.1', resolve));
  try {
    await page.getByLabel('URL').fill(`http://127.0.0.1:${(served.address() as net.AddressInfo).port}/appliance.ova`);
    await page.getByLabel('Store as (folder/file.ova)').fill('images/fetched.ova');
    await page.getByRole('button', { name: 'Fetch', exact: true }).click();
    await page.locator('.fetch').filter({ hasText: 'success' }).waitFor();
    await page.locator('tr[data-image="images/fetched.ova"]').waitFor();
  } finally {
    served.close();
  }

  await page.getByLabel('OVA file').setInputFiles(path.join(work, 'broken.ova'));
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByRole('alert').filter({ hasText: /^broken\.ova: / }).waitFor();
  assert.equal(await page.locator('tr[data-image="images/broken.ova"]').count(), 0);
  // The browser logs the refused PUT itself; that one is expected.
  const refused = pageErrors.findIndex((e) => /status of 400/.test(e));
  assert.ok(refused >= 0);
  pageErrors.splice(refused, 1);
});

test('create with two discs, two ISO media and two NICs: an error on the second disc shows under its row; vm info shows them all', async () => {
  await page.getByRole('link', { name: 'Virtual machines' }).click();
  await page.getByRole('button', { name: 'Create VM' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create a virtual machine' });
  await dialog.getByLabel('Name').fill('multi');
  await dialog.getByLabel('Memory (MiB)').fill('128');
  await dialog.getByLabel('Disc 1 size (MiB)').fill('64');
  await dialog.getByRole('button', { name: 'Add disc' }).click();
  await dialog.getByLabel('Disc 2 label').fill('data');
  await dialog.getByLabel('Disc 2 size (MiB)').fill('0');
  for (const n of [1, 2]) {
    await dialog.getByRole('button', { name: 'Add NIC' }).click();
    await dialog.getByLabel(`NIC ${n} type`).selectOption('NAT');
  }
  // The ISO the fetch test put in the store, twice.
  for (const n of [1, 2]) {
    await dialog.getByRole('button', { name: 'Add medium' }).click();
    await dialog.getByLabel(`Medium ${n} ISO`).selectOption('fetched.iso');
  }
  await dialog.getByRole('button', { name: 'Create' }).click();
  const second = dialog.locator('[data-row="discs/1"] .field-error');
  await second.waitFor();
  assert.match(await second.innerText(), /^\/discs\/1\/size_mib /);
  assert.equal(await dialog.locator('[data-row="discs/0"] .field-error').count(), 0, 'nothing under the first disc');
  await page.screenshot({ path: path.join(SHOTS, 'create-dialog-rows.png') });

  await dialog.getByLabel('Disc 2 size (MiB)').fill('32');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await dialog.waitFor({ state: 'detached' });
  await stateOf(page, 'multi').waitFor();
  const vmid = await row(page, 'multi').getByRole('link').getAttribute('href').then((h) => decodeURIComponent(h!.replace('#/vm/', '')));
  const info = await client.call<{ discs: { label: string; size_mib: number }[]; nics: { type: string }[]; media: { mid: string }[] }>('sysadm', 'vm', { action: 'info', vmid });
  assert.deepEqual(info.media.map((x) => x.mid), ['fetched.iso', 'fetched.iso']);
  assert.deepEqual(info.discs.map((x) => [x.label, x.size_mib]), [['disk0', 64], ['data', 32]]);
  assert.deepEqual(info.nics.map((x) => x.type), ['NAT', 'NAT']);
});

test('deploy an image from its dialog: a deployment option, count 2; both VMs appear in the list', async () => {
  // An OVA whose descriptor offers deployment options (tiny, small, large), put in the store over REST.
  const work = await tempDir('hyved-dash-deploy-');
  const vmdk = path.join(work, 'disk.vmdk');
  await promisify(execFile)('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', 'subformat=streamOptimized', vmdk, '16M']);
  await writeOva(path.join(work, 'sizes.ova'), 'sizes.ovf', await fixture('deployment.ovf'), [{ name: 'vcsa-disk1.vmdk', file: vmdk }]);
  const basic = `Basic ${Buffer.from(`admin:${d.adminPassword}`).toString('base64')}`;
  const up = await fetch(`${d.url}/upload/ova/sizes.ova`, { method: 'PUT', headers: { Authorization: basic }, body: await readFile(path.join(work, 'sizes.ova')) });
  assert.equal(up.status, 201, await up.text());

  await page.getByRole('link', { name: 'Virtual machines' }).click();
  await page.getByRole('link', { name: 'Images' }).click();
  await page.getByRole('button', { name: 'Deploy images/sizes.ova' }).click();
  const dialog = page.getByRole('dialog', { name: 'Deploy an image' });
  const hardware = dialog.locator('[data-hardware]');
  await hardware.filter({ hasText: '4 CPU' }).waitFor();
  const config = dialog.getByLabel('Configuration');
  assert.deepEqual(await config.locator('option').allInnerTexts(), ['Tiny — Up to 10 hosts', 'Small — Up to 100 hosts', 'Large — Up to 1000 hosts']);
  assert.equal(await config.inputValue(), 'small', 'the descriptor\'s default');
  await config.selectOption('tiny');
  await hardware.filter({ hasText: '2 CPU, 10240 MiB' }).waitFor();
  await dialog.getByLabel('Name').fill('tiny');
  await dialog.getByLabel('Count').fill('2');
  await page.screenshot({ path: path.join(SHOTS, 'deploy-form.png') });
  await dialog.getByRole('button', { name: 'Deploy', exact: true }).click();
  await dialog.getByText('Deploying images/sizes.ova as tiny, tiny-2.').waitFor();
  await dialog.locator('[data-task-progress]').filter({ hasText: 'success' }).waitFor({ timeout: 120_000 });
  assert.equal(await dialog.locator('[data-task-progress] progress').getAttribute('value'), '100');
  await page.screenshot({ path: path.join(SHOTS, 'deploy-dialog.png') });
  await dialog.getByRole('link', { name: 'See the new VMs' }).click();
  for (const name of ['tiny', 'tiny-2']) {
    await stateOf(page, name).filter({ hasText: 'STOPPED' }).waitFor();
    assert.deepEqual(await sizesOf(page, name), ['2', '10240 MiB']);
  }
});

test('export a stopped VM from its page: progress to 100%, then the image is listed', async () => {
  await row(page, 'multi').getByRole('link', { name: 'multi' }).click();
  await page.getByRole('button', { name: 'Export' }).click();
  const dialog = page.getByRole('dialog', { name: 'Export multi' });
  assert.equal(await dialog.getByLabel('Name').inputValue(), 'multi');
  await dialog.getByLabel('Format').selectOption('ova');
  await page.screenshot({ path: path.join(SHOTS, 'export-dialog.png') });
  await dialog.getByRole('button', { name: 'Export', exact: true }).click();
  const status = await dialog.getByRole('status').filter({ hasText: /^Exporting multi to / }).innerText();
  const image = /to (\S+\.ova)\.$/.exec(status)![1];
  await dialog.locator('[data-task-progress]').filter({ hasText: 'success' }).waitFor({ timeout: 120_000 });
  assert.equal(await dialog.locator('[data-task-progress] progress').getAttribute('value'), '100');
  await dialog.getByRole('link', { name: 'See it in Images' }).click();
  await page.locator(`tr[data-image="${image}"]`).waitFor();
  // The list stays short for the tests after this one.
  for (const name of ['multi', 'tiny', 'tiny-2']) {
    const list = await client.call<{ vms: { vmid: string; name: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' });
    await client.call('sysadm', 'vm', { action: 'delete', vmid: list.vms.find((v) => v.name === name)!.vmid });
  }
});

test('no errors in the page console so far', () => {
  assert.deepEqual(pageErrors, []);
});

test('a user with only vm.view, by keyboard on a phone in dark mode: the VMs, no create or action buttons', async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
  const p = await ctx.newPage();
  p.setDefaultTimeout(TIMEOUT);
  await p.goto(`${d.url}/`);
  // By keyboard alone: the user name field has the focus, Tab moves on, Enter signs in.
  await p.getByLabel('User name').waitFor();
  await p.keyboard.type('viewer');
  await p.keyboard.press('Tab');
  await p.keyboard.type('viewer-pass-1');
  await p.keyboard.press('Enter');
  await stateOf(p, 'dash').waitFor();
  await p.keyboard.press('Tab');
  assert.equal(await p.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  await p.keyboard.press('Enter');
  await p.keyboard.press('Tab');
  assert.equal(await p.evaluate(() => document.activeElement?.textContent), 'dash', 'the skip link leads to the VM list');
  assert.equal(await p.evaluate(() => location.hash), '', 'and leaves the route alone');
  assert.equal(await p.locator('button[data-action]').count(), 0);
  // What the page went by: rpc/schema says the viewer may call vm state, but not change state with it.
  const viewer = await d.client('viewer', 'viewer-pass-1');
  const listed = async (c: HyvedClient) => (await c.call<Record<string, Record<string, { write_permission?: string; may_write?: boolean }>>>('rpc', 'schema', { namespace: 'sysadm', name: 'vm' }))['sysadm/vm'].state;
  assert.deepEqual([(await listed(viewer)).write_permission, (await listed(viewer)).may_write, (await listed(client)).may_write], ['vm.state', false, true]);
  viewer.close();
  assert.equal(await p.getByRole('button', { name: 'Create VM' }).count(), 0);
  assert.equal(await p.getByRole('link', { name: 'ISO store' }).count(), 0);
  await p.screenshot({ path: path.join(SHOTS, 'viewer-phone.png') });
  await p.getByRole('button', { name: 'Sign out' }).click();
  await p.getByText('You have signed out.').waitFor();
  assert.equal(await p.evaluate(() => sessionStorage.getItem('hyved.token')), null);
  await ctx.close();
});

test('an idle session ends: the page returns to sign-in and says why', async () => {
  const idle = await startDaemon({ token_timeout_s: 2 });
  const ctx = await browser.newContext();
  try {
    const p = await ctx.newPage();
    p.setDefaultTimeout(TIMEOUT);
    await p.goto(`${idle.url}/`);
    await signIn(p, 'admin', idle.adminPassword);
    await p.getByRole('heading', { name: 'Virtual machines' }).waitFor();
    await p.getByText(/session expired/).waitFor({ timeout: 15_000 });
    await p.getByLabel('Password').waitFor();
    assert.equal(await p.evaluate(() => sessionStorage.getItem('hyved.token')), null);
  } finally {
    await ctx.close();
    await idle.stop();
  }
});

test('the connection drops and comes back: a banner, then the events missed meanwhile are replayed (since)', async () => {
  const r = await relay();
  // The relay's origin is allowed as a reverse proxy's would be; the page is served through it.
  const own = await startDaemon({ origins: [`http://127.0.0.1:${r.port}`] });
  r.to = own.url;
  const c = await own.client();
  const ctx = await browser.newContext();
  try {
    const gone = await c.call<{ vmid: string }>('sysadm', 'vm', { action: 'create', name: 'gone', gid: 'default', cpus: 1, memory_mib: 64 });
    const p = await ctx.newPage();
    p.setDefaultTimeout(TIMEOUT);
    await p.goto(`http://127.0.0.1:${r.port}/`);
    await signIn(p, 'admin', own.adminPassword);
    await stateOf(p, 'gone').waitFor();
    await r.cut();
    // Says what the page showed instead, should the banner not come.
    await p.locator('[data-banner="down"]').waitFor().catch(async (e: Error) => assert.fail(`${e.message}\npage:\n${await p.locator('body').innerText()}`));
    await c.call('sysadm', 'vm', { action: 'delete', vmid: gone.vmid });
    await c.call('sysadm', 'vm', { action: 'create', name: 'added', gid: 'default', cpus: 1, memory_mib: 64 });
    await r.resume();
    await p.locator('[data-banner="up"]').waitFor();
    await stateOf(p, 'added').waitFor();
    await row(p, 'gone').waitFor({ state: 'detached' });
    // Still signed in: the kept token signed the new connection in.
    assert.equal(await p.getByLabel('Password').count(), 0);
  } finally {
    c.close();
    await ctx.close();
    await r.cut().catch(() => {});
    await own.stop();
  }
});

test('the daemon stops: a banner says so; it comes back: the banner goes and the list catches up', async () => {
  await page.getByRole('link', { name: 'Virtual machines' }).click();
  await stateOf(page, 'dash').waitFor();
  const port = new URL(d.url).port;
  const { stateDir } = d;
  client.close();
  await d.stop();
  await page.locator('[data-banner="down"]').waitFor();
  d = await startDaemon({ iso: { allow_private: LOOPBACK }, listen: `127.0.0.1:${port}` }, stateDir);
  client = await d.client();
  await client.call('sysadm', 'vm', { action: 'create', name: 'late', gid: 'default', cpus: 1, memory_mib: 64 });
  await page.locator('[data-banner="down"]').waitFor({ state: 'detached' });
  // Sessions live in the daemon's memory: a restart ends them, and the page asks to sign in again.
  await page.getByText(/session has ended/).waitFor();
  await signIn(page, 'admin', d.adminPassword);
  await stateOf(page, 'late').filter({ hasText: 'STOPPED' }).waitFor();
  await stateOf(page, 'dash').filter({ hasText: 'STOPPED' }).waitFor();
});
