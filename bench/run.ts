/**
 * `npm run bench [-- --quick] [scenario ...]`: runs the scenarios one after another, each in its
 * own process (its stdout passed through), and collects the `ratio_*` figures they print.
 * A full run records them in bench/baseline.json (merged: a run of some scenarios replaces only
 * theirs). With --quick each scenario shortens itself (fewer rounds, smaller sizes) and the run
 * prints every ratio that is more than 20% worse than the recorded one: a developer's tool, not a
 * gate, since this machine's neighbours move figures by that much.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Baseline, type Figure, type RunRecord, type Scenario, figuresOf, regressions } from './compare.js';
import { BENCH_DIR, progress } from './lib.js';

const SCENARIOS: Scenario[] = [
  { name: 'rpc', keyedBy: 'connections', lowerIsBetter: ['ratio_p50_hyved_over_bare', 'ratio_p50_hyved_over_peer', 'ratio_cpu_per_call_hyved_over_bare', 'ratio_cpu_per_call_hyved_over_peer'] },
  { name: 'fanout', lowerIsBetter: ['ratio_cpu_per_delivery_present_over_absent'] },
  { name: 'idle', lowerIsBetter: ['ratio_rss_idle_over_bare_node'] },
  { name: 'iso-fetch' },
  { name: 'vm-start', lowerIsBetter: ['ratio_marker_hyved_over_direct'] },
  { name: 'console' },
  { name: 'nat-guard', lowerIsBetter: ['ratio_marker_guarded_slirp'] },
  { name: 'provision', lowerIsBetter: ['ratio_hyved_over_by_hand'] },
  { name: 'ova' },
  { name: 'vm-scale', lowerIsBetter: ['ratio_create_cpu_per_vm_growth_per_tenfold'] },
  { name: 'guests' },
  { name: 'dashboard' },
];

const BASELINE = path.join(BENCH_DIR, '..', '..', 'bench', 'baseline.json');

function runScenario(s: Scenario, quick: boolean): Promise<{ ok: boolean; figures: Figure[] }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [path.join(BENCH_DIR, `${s.name}.js`), ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d);
      out += d;
    });
    proc.on('exit', (code) => resolve({ ok: code === 0, figures: out.split('\n').flatMap((l) => figuresOf(l, s)) }));
  });
}

async function readBaseline(): Promise<Baseline | null> {
  try {
    return JSON.parse(await readFile(BASELINE, 'utf8')) as Baseline;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const wanted = argv.filter((a) => !a.startsWith('--'));
const unknown = wanted.filter((w) => !SCENARIOS.some((s) => s.name === w));
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const chosen = wanted.length > 0 ? SCENARIOS.filter((s) => wanted.includes(s.name)) : SCENARIOS;

const load0 = os.loadavg()[0];
const figures: Figure[] = [];
const failed: string[] = [];
for (const s of chosen) {
  progress(`bench: ${s.name}${quick ? ' (quick)' : ''}, load average ${os.loadavg()[0].toFixed(1)}`);
  const r = await runScenario(s, quick);
  if (!r.ok) failed.push(s.name);
  // A scenario that failed part way recorded nothing trustworthy: neither compared nor recorded.
  else figures.push(...r.figures);
}
const load = `${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`;

if (failed.length > 0) console.error(`\nbench: failed: ${failed.join(', ')}`);
if (quick) {
  const baseline = await readBaseline();
  const lines = regressions(baseline, figures);
  for (const s of chosen) {
    const r = baseline?.records[s.name];
    if (r) console.error(`bench: ${s.name} recorded ${r.recorded} (load ${r.load}, ${r.commit})`);
  }
  console.error(`\nbench --quick (load average ${load}): ${figures.length} ratios, ${lines.length === 0 ? 'none more than 20% worse than recorded' : 'worse than recorded or not comparable:'}`);
  for (const l of lines) console.error(`  ${l}`);
} else {
  const old = await readBaseline();
  const cpus = os.cpus();
  const record: RunRecord = {
    recorded: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    machine: `${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    load,
    commit: commit(),
  };
  const ran = chosen.filter((s) => !failed.includes(s.name)).map((s) => s.name);
  const baseline: Baseline = {
    records: { ...(old?.records ?? {}), ...Object.fromEntries(ran.map((name) => [name, record])) },
    ratios: { ...(old?.ratios ?? {}), ...Object.fromEntries(figures.map((f) => [f.key, f.value])) },
  };
  await writeFile(BASELINE, JSON.stringify(baseline, null, 2) + '\n');
  console.error(`\nbench: ${figures.length} ratios recorded in bench/baseline.json (load average ${load})`);
}
process.exit(failed.length > 0 ? 1 : 0);
