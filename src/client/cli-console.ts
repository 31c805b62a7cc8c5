import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import type { HyvedClient } from './client.js';

/** Ctrl-]: telnet's and virsh's escape, which no shell or editor binds. */
const ESCAPE = 0x1d;

/** Why `hyvectl console` ended: its exit status. */
export const CONSOLE_EXIT = { detached: 0, error: 1, vmStopped: 3, lost: 4, terminated: 143 } as const;

export interface ConsoleOptions {
  target: string;
  gid: string;
  readOnly: boolean;
  since?: number;
  rejectUnauthorized: boolean;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** The VM named `target` in `gid`, else the one whose vmid it is. */
async function resolveVm(client: HyvedClient, target: string, gid: string): Promise<{ vmid: string; name: string }> {
  const { vms } = await client.request('sysadm/vm/list', { gid });
  const named = vms.find((v) => v.name === target || v.vmid === target);
  if (named) return named;
  const info = await client.request('sysadm/vm/info', { vmid: target }).catch(() => null);
  if (info) return { vmid: target, name: info.name };
  throw new Error(`no VM named '${target}' in group '${gid}', nor with that vmid`);
}

/**
 * Attaches the terminal to a VM's serial console: the last screenful first (or everything from
 * --since), then live. The terminal is put back as it was on every way out, including signals
 * and the daemon going away; the exit status says which way it was (CONSOLE_EXIT).
 */
export async function runConsole(client: HyvedClient, o: ConsoleOptions): Promise<number> {
  const vm = await resolveVm(client, o.target, o.gid);
  const t = await client.request('sysadm/console/ticket', { vmid: vm.vmid, kind: 'serial', write: !o.readOnly });
  const ws = new WebSocket(new URL(t.url, client.ws.url).href, { rejectUnauthorized: o.rejectUnauthorized });
  const tty = o.stdin.isTTY === true;
  const say = (line: string) => o.stderr.write(`\r\n[hyvectl: ${line}]\r\n`);
  const restore = () => {
    if (tty && o.stdin.isRaw) o.stdin.setRawMode(false);
  };
  // The last resort: whatever ends the process, the terminal is left usable.
  process.once('exit', restore);

  return new Promise<number>((resolve, reject) => {
    let status: number | null = null;
    let hello: { offset: number; writer: boolean } | null = null;
    // Live bytes wait while the last screen is fetched (they follow it); with --since they are
    // dropped until the replay's notice, since the replay sends them again.
    let held: Buffer[] | null = [];
    let awaitingReplay = false;
    const finish = (code: number, why?: string) => {
      if (status !== null) return;
      status = code;
      restore();
      o.stdin.off('data', onInput);
      o.stdin.pause();
      process.off('SIGTERM', onTerm).off('SIGHUP', onTerm);
      o.stdout.off('resize', onResize);
      if (why) say(why);
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
      resolve(code);
    };
    const onTerm = () => finish(CONSOLE_EXIT.terminated, 'terminated');
    const onResize = () => {
      if (hello?.writer) ws.send(JSON.stringify({ type: 'resize', cols: o.stdout.columns, rows: o.stdout.rows }));
    };
    const onInput = (data: Buffer) => {
      const esc = data.indexOf(ESCAPE);
      const keys = esc < 0 ? data : data.subarray(0, esc);
      if (keys.length && !o.readOnly && ws.readyState === ws.OPEN) ws.send(keys, { binary: true });
      if (esc >= 0) finish(CONSOLE_EXIT.detached, 'detached');
    };
    process.on('SIGTERM', onTerm).on('SIGHUP', onTerm);

    ws.on('unexpected-response', (_req, res) => reject(new Error(`console refused: HTTP ${res.statusCode}`)));
    ws.on('error', (err) => (status === null && hello === null ? reject(err) : finish(CONSOLE_EXIT.lost, err.message)));
    ws.on('close', (code, reason) => {
      const why = String(reason);
      if (code === 1000 && why === 'vm stopped') finish(CONSOLE_EXIT.vmStopped, 'the VM stopped');
      else finish(CONSOLE_EXIT.lost, `connection closed (${code}${why ? ' ' + why : ''})`);
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        if (awaitingReplay) return;
        if (held) held.push(data as Buffer);
        else o.stdout.write(data as Buffer);
        return;
      }
      const m = JSON.parse(String(data)) as { type: string; offset?: number; writer?: boolean; writer_user?: string | null; message?: string; reason?: string; applied?: boolean };
      if (m.type === 'hello') {
        hello = { offset: m.offset ?? 0, writer: m.writer === true };
        void start(hello).catch((err) => finish(CONSOLE_EXIT.error, (err as Error).message));
      } else if (m.type === 'writer-changed') {
        if (hello) hello.writer = m.writer === true;
        say(m.writer ? 'you have the keyboard' : `read-only: ${m.writer_user ?? 'another viewer'} has the keyboard`);
        if (m.writer) onResize();
      } else if (m.type === 'replay') awaitingReplay = false;
      else if (m.type === 'error') {
        awaitingReplay = false;
        say(m.message ?? 'error');
      }
    });

    const start = async (h: { offset: number; writer: boolean }) => {
      if (o.since !== undefined) {
        ws.send(JSON.stringify({ type: 'replay', since: o.since }));
        awaitingReplay = true;
      } else await lastScreen(client, vm.vmid, h.offset, o.stdout.rows || 24, o.stdout);
      for (const b of held ?? []) o.stdout.write(b);
      held = null;
      say(`console of ${vm.name} (${vm.vmid})${o.readOnly ? ', read-only' : h.writer ? '' : ', read-only until another viewer lets go'}; Ctrl-] detaches`);
      if (tty) {
        o.stdin.setRawMode(true);
        // libuv's raw mode keeps output processing (LF → CR LF): the guest's own CR LF would arrive
        // as CR CR LF. setRawMode(false) puts back the settings saved before this too.
        spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
      }
      o.stdin.on('data', onInput);
      o.stdin.resume();
      o.stdout.on('resize', onResize);
      onResize();
    };
  });
}

/** The output's last `rows` lines before `offset` (live output continues from `offset`). */
async function lastScreen(client: HyvedClient, vmid: string, offset: number, rows: number, out: NodeJS.WriteStream): Promise<void> {
  const limit = Math.min(offset, 16384);
  if (limit === 0) return;
  const r = await client.request('sysadm/console/log', { vmid, since: offset - limit, limit, encoding: 'base64' });
  const text = Buffer.from(r.data, 'base64');
  let at = text.length;
  for (let n = 0; n < rows && at > 0; n++) at = text.lastIndexOf(0x0a, at - 1);
  out.write(text.subarray(at < 0 ? 0 : at + 1));
}
