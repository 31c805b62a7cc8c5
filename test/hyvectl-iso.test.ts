import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ProgressRenderer,
  formatBytes,
  formatPercent,
  formatRate,
  plainLine,
  progressBar,
  stateLine,
  taskLabel,
  ttyLine,
  type DispatcherEvent,
} from '../src/client/cli-progress.js';
import type { ProgressFigures } from '../src/queue/dispatcher.js';
import { ROOT, startDaemon, type TestDaemon } from './helpers/daemon.js';
import { LOOPBACK, sha256, startIsoServer, type IsoServer } from './helpers/servers.js';
import { setTimeout as sleep } from 'node:timers/promises';

const HYVECTL = path.join(ROOT, 'dist/src/bin/hyvectl.js');
const MiB = 1024 * 1024;

interface Run { code: number | null; stdout: string; stderr: string }

/** A running fetch's event at 42.5% and 12.3 MiB/s; `figures` replaces some of its progress figures. */
function event(extra: Partial<DispatcherEvent> = {}, figures: Partial<ProgressFigures> = {}): DispatcherEvent {
  return {
    event_system: 'sysadm/iohyve',
    state: 'running',
    process_id: 'sysadm_iohyve_fetchiso::abc',
    action: 'fetchiso',
    filename: 'big.iso',
    progress: { percent: 42.5, bytes: 4.25 * MiB, total: 10 * MiB, rate: 12.3 * MiB, ...figures },
    description: 'downloading big.iso',
    ...extra,
  };
}

describe('cli-progress formatting', () => {
  it('formats rates in binary units', () => {
    assert.equal(formatRate(0), '0 B/s');
    assert.equal(formatRate(512), '512 B/s');
    assert.equal(formatRate(1536), '1.5 KiB/s');
    assert.equal(formatRate(12.3 * MiB), '12.3 MiB/s');
    assert.equal(formatRate(2.5 * 1024 * MiB), '2.5 GiB/s');
    assert.equal(formatRate(1024 * MiB - 1), '1.0 GiB/s', 'no "1024.0 MiB/s"');
    assert.equal(formatRate(null), '');
    assert.equal(formatBytes(3 * MiB), '3.0 MiB');
    assert.equal(formatBytes(1023), '1023 B');
  });

  it('draws a bar of the asked width whatever the percent', () => {
    assert.equal(progressBar(0, 20), `[${'-'.repeat(20)}]`);
    assert.equal(progressBar(50, 20), `[${'#'.repeat(10)}${'-'.repeat(10)}]`);
    assert.equal(progressBar(100, 20), `[${'#'.repeat(20)}]`);
    assert.equal(progressBar(99.9, 10), `[${'#'.repeat(9)}-]`);
    for (const p of [-5, 0, 33.3, 100, 250, NaN]) assert.equal(progressBar(p, 30).length, 32, String(p));
    assert.equal(formatPercent(42.5), '42.5%');
    assert.equal(formatPercent(120), '100.0%');
  });

  it('plain lines: percent and rate, or none without progress', () => {
    const label = taskLabel(event());
    assert.equal(label, 'fetchiso big.iso');
    assert.equal(plainLine(label, event()), 'fetchiso big.iso: 42.5% 12.3 MiB/s');
    assert.equal(plainLine(label, event({}, { rate: null })), 'fetchiso big.iso: 42.5%');
    assert.equal(plainLine(label, event({}, { percent: null })), 'fetchiso big.iso: downloading 12.3 MiB/s');
    assert.equal(plainLine(label, event({}, { percent: null, rate: null })), null);
    assert.equal(plainLine(label, event({ state: 'pending' })), null);
    assert.equal(stateLine(label, event({ state: 'finished', result: 'failed' })), 'fetchiso big.iso: finished (failed)');
    assert.equal(taskLabel({ process_id: 'x', action: 'fetchiso' }, 'named.iso'), 'fetchiso named.iso');
  });

  it('terminal lines: a bar with a known percent, a spinner without, never wider than the terminal', () => {
    const withBar = ttyLine('fetchiso big.iso', event(), { columns: 80 });
    assert.match(withBar, /^fetchiso big\.iso \[#+-+\] +42\.5% {2}12\.3 MiB\/s$/);
    assert.ok(withBar.length < 80);
    const spin = ttyLine('fetchiso big.iso', event({}, { percent: null }), { frame: 1 });
    assert.match(spin, /^fetchiso big\.iso \/ downloading… {2}12\.3 MiB\/s$/);
    assert.doesNotMatch(spin, /\[|%/);
    assert.match(ttyLine('fetchiso big.iso', event({}, { percent: null, rate: null })), /downloading…$/);
    assert.match(ttyLine('fetchiso big.iso', event({ state: 'pending' }, { percent: null })), /queued$/);
    for (const columns of [20, 40, 60, 200]) assert.ok(ttyLine('fetchiso ' + 'x'.repeat(30), event(), { columns }).length <= columns - 1, String(columns));
  });

  it('the plain renderer prints state changes always and progress at most once a second', () => {
    let t = 0;
    const out: string[] = [];
    const r = new ProgressRenderer({ write: (s) => out.push(s), isTTY: false }, { now: () => t });
    r.update(event({ state: 'pending' }, { percent: null, rate: null }));
    r.update(event({ state: 'running' }, { percent: null, rate: null }));
    r.update(event({}, { percent: 1 }));
    t = 500;
    r.update(event({}, { percent: 2 }));
    t = 1000;
    r.update(event({}, { percent: 3 }));
    r.update(event({ state: 'finished', result: 'success' }, { percent: 100 }));
    r.update(event({}, { percent: 4 }));
    assert.deepEqual(out, [
      'fetchiso big.iso: pending\n',
      'fetchiso big.iso: running\n',
      'fetchiso big.iso: 1.0% 12.3 MiB/s\n',
      'fetchiso big.iso: 3.0% 12.3 MiB/s\n',
      'fetchiso big.iso: finished (success)\n',
    ], 'nothing after finished');
  });

  it('the terminal renderer redraws one line at most every 100 ms and clears it when done', async () => {
    let t = 0;
    const out: string[] = [];
    const r = new ProgressRenderer({ write: (s) => out.push(s), isTTY: true, columns: 80 }, { now: () => t });
    assert.equal(r.tty, true);
    r.update(event({ state: 'running' }, { percent: 10 }));
    assert.equal(out.length, 1);
    assert.match(out[0], /^\r.*10\.0%.*\x1b\[K$/);
    t = 50;
    r.update(event({}, { percent: 20 }));
    assert.equal(out.length, 1, 'too soon: drawn later');
    await sleep(150);
    assert.equal(out.length, 2, 'the latest event is drawn once the interval has passed');
    assert.match(out[1], /20\.0%/);
    t = 1000;
    r.note('hello');
    assert.deepEqual(out.slice(2, 4), ['\r\x1b[K', 'hello\n']);
    assert.match(out[4], /^\r.*20\.0%/, 'the bar comes back below the note');
    r.update(event({ state: 'finished', result: 'success' }));
    assert.equal(out.at(-1), '\r\x1b[K');
    assert.ok(!out.some((s) => s.includes('\n') && s !== 'hello\n'), 'no newlines besides the note');
  });
});

describe('hyvectl iso', () => {
  let daemon: TestDaemon;
  let web: IsoServer;
  let isoDir: string;

  function ctlProc(args: string[]) {
    const env: NodeJS.ProcessEnv = { ...process.env, HYVED_PASSWORD: daemon.adminPassword };
    for (const k of ['HYVED_URL', 'HYVED_USER', 'HYVED_TOKEN']) delete env[k];
    return spawn(process.execPath, [HYVECTL, '--url', daemon.url, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  function ctl(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      const proc = ctlProc(args);
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (d) => (stdout += d));
      proc.stderr.on('data', (d) => (stderr += d));
      proc.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  before(async () => {
    web = await startIsoServer();
    daemon = await startDaemon({ iso: { allow_private: LOOPBACK } });
    isoDir = path.join(daemon.stateDir, 'images', 'iso');
  });
  after(async () => {
    await daemon?.stop();
    await web?.close();
  });

  it('iso fetch downloads, shows progress on stderr and prints "fetched NAME"', async () => {
    const r = await ctl(['iso', 'fetch', `${web.url}/big.iso`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'fetched big.iso\n');
    assert.match(r.stderr, /^fetchiso big\.iso: (pending|running|finished \(success\)|[\d.]+%.*)$/m);
    assert.match(r.stderr, /^fetchiso big\.iso: finished \(success\)$/m);
    assert.doesNotMatch(r.stderr, /\r|\x1b/, 'no terminal control codes when stderr is not a terminal');
    assert.equal(sha256(await readFile(path.join(isoDir, 'big.iso'))), sha256(web.body));
  });

  it('iso fetch --json prints the final event; --name and --overwrite are passed on', async () => {
    const r = await ctl(['--json', 'iso', 'fetch', `${web.url}/chunked.iso`, '--name', 'chunky.iso']);
    assert.equal(r.code, 0, r.stderr);
    const final = JSON.parse(r.stdout);
    assert.equal(final.state, 'finished');
    assert.equal(final.result, 'success');
    assert.equal(final.filename, 'chunky.iso');
    assert.match(final.process_id, /^sysadm_iohyve_fetchiso::/);
    assert.equal(sha256(await readFile(path.join(isoDir, 'chunky.iso'))), sha256(web.body));
    const again = await ctl(['iso', 'fetch', `${web.url}/big.iso`, '--name', 'chunky.iso']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^hyvectl: 409 /);
    const over = await ctl(['iso', 'fetch', `${web.url}/big.iso`, '--name', 'chunky.iso', '--overwrite']);
    assert.equal(over.code, 0, over.stderr);
    assert.equal(over.stdout, 'fetched chunky.iso\n');
  });

  it('a failed fetch exits 1 with the reason', async () => {
    const r = await ctl(['iso', 'fetch', `${web.url}/missing.iso`]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^hyvectl: fetch missing\.iso failed: .*404/m);
    assert.ok(!(await readdir(isoDir)).some((f) => f.includes('missing.iso')));
  });

  it('iso list shows names and human-readable sizes; --json the raw reply', async () => {
    const r = await ctl(['iso', 'list']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^NAME\s+SIZE\s+MODIFIED$/);
    const row = lines.find((l) => l.startsWith('big.iso '));
    assert.ok(row, r.stdout);
    assert.match(row, new RegExp(`^big\\.iso\\s+${formatBytes(web.body.length).replace('.', '\\.')}\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
    assert.equal(formatBytes(web.body.length), '3.0 MiB');
    const json = JSON.parse((await ctl(['--json', 'iso', 'list'])).stdout);
    assert.ok(json.listisos.includes('big.iso'));
    assert.equal(json.isos.find((i: { name: string }) => i.name === 'big.iso').size, web.body.length);
  });

  it('usage errors exit 2', async () => {
    for (const args of [['iso'], ['iso', 'fetch'], ['iso', 'fetch', 'a', 'b'], ['iso', 'list', 'x'], ['iso', 'frob'], ['--name', 'x.iso', 'iso', 'list'], ['--overwrite', 'nic', 'list']]) {
      const r = await ctl(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });

  it('Ctrl-C cancels the download, removes the partial file and exits 130', async () => {
    const proc = ctlProc(['iso', 'fetch', `${web.url}/slow.iso`, '--name', 'slow.iso']);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no progress line within 15 s; stderr: ${stderr}`)), 15_000);
      proc.stderr.on('data', (d) => {
        stderr += d;
        if (/^fetchiso slow\.iso: \d+\.\d%/m.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const sent = Date.now();
    proc.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
    if (code === 'timeout') proc.kill('SIGKILL');
    assert.equal(code, 130, stderr);
    assert.ok(Date.now() - sent < 10_000);
    assert.equal(stdout, '');
    assert.match(stderr, /canceling/);
    assert.match(stderr, /^hyvectl: fetch slow\.iso canceled: /m);
    const left = (await readdir(isoDir)).filter((f) => f.startsWith('.slow.iso') || f.startsWith('slow.iso'));
    assert.deepEqual(left, []);
    // The server saw the download stop too.
    const until = Date.now() + 5000;
    while (web.slowActive() > 0 && Date.now() < until) await sleep(50);
    assert.equal(web.slowActive(), 0);
  });
});
