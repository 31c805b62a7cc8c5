import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HyvedClient } from '../../src/client/client.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const HYVED = path.join(ROOT, 'dist/src/bin/hyved.js');

export interface TestDaemon {
  url: string;
  stateDir: string;
  configFile: string;
  proc: ChildProcess;
  adminPassword: string;
  output(): string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Connects and signs in as admin (or the given user). */
  client(username?: string, password?: string): Promise<HyvedClient>;
}

const made: string[] = [];

/**
 * A fresh directory under the system's temp dir, removed when the test process exits
 * (HYVED_KEEP_TEST_DIRS=1 keeps them to look at): images and guests make hundreds of MB per file.
 */
export async function tempDir(prefix = 'hyved-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  if (!made.length && !process.env.HYVED_KEEP_TEST_DIRS) process.once('exit', removeTempDirs);
  made.push(dir);
  return dir;
}

/** Leaves `dir` in place at exit (a failed fuzz run keeps its daemon's state to look at). */
export function keepTempDir(dir: string): void {
  const i = made.indexOf(dir);
  if (i >= 0) made.splice(i, 1);
}

function removeTempDirs(): void {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // A store still mounted (a test that failed before unmounting it) stays: nothing else to do at exit.
    }
  }
}

/**
 * Starts a real daemon process on a free loopback port with its own state dir; `nodeArgs` go to
 * node before the script (e.g. `--inspect=127.0.0.1:0` for inspector.ts).
 */
export async function startDaemon(config: Record<string, unknown> = {}, stateDir?: string, nodeArgs: string[] = []): Promise<TestDaemon> {
  stateDir ??= await tempDir();
  const configFile = path.join(stateDir, 'test-config.json');
  await writeFile(configFile, JSON.stringify({ listen: '127.0.0.1:0', state_dir: stateDir, validate_results: true, ...config }));
  const proc = spawn(process.execPath, [...nodeArgs, HYVED, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const fail = (err: Error) => {
      proc.kill('SIGKILL');
      reject(err);
    };
    // Generous: a loaded CI machine once took more than 15 s.
    const timer = setTimeout(() => fail(new Error(`daemon did not start:\n${out}`)), 60_000);
    const check = () => {
      const m = /^hyved \S+ is listening on (\S+)/m.exec(out); // not node's "Debugger listening on ..."
      if (m) {
        clearTimeout(timer);
        proc.stdout!.off('data', check);
        resolve(m[1]);
      }
    };
    proc.stdout!.on('data', check);
    exited.then((code) => fail(new Error(`daemon exited with ${code}:\n${out}`)));
  });
  // Absent when the state dir already had users before the first start.
  const adminPassword = (await readFile(path.join(stateDir, 'admin-password'), 'utf8').catch(() => '')).trim();
  const daemon: TestDaemon = {
    url,
    stateDir,
    configFile,
    proc,
    adminPassword,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
    async client(username = 'admin', password = adminPassword) {
      const c = await HyvedClient.connect(url);
      await c.login(username, password);
      return c;
    },
  };
  return daemon;
}

/** Runs the hyved command line to completion. */
export function runHyved(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [HYVED, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
    proc.stdin.end(stdin ?? '');
  });
}

/** Resident memory of a process in bytes, from /proc. */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error('no VmRSS');
  return Number(m[1]) * 1024;
}
