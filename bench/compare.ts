/**
 * The regression guard's arithmetic: a quick run's ratios against the figures a full run recorded
 * in bench/baseline.json. Pure (no files, no processes), so a unit test can hold it to its word.
 */

/** Where and when a scenario's figures were recorded. */
export interface RunRecord {
  recorded: string;
  machine: string;
  load: string;
  commit: string;
}

/**
 * What full runs record: every scenario's ratios, keyed "<scenario>[ <field>=<value>] <ratio
 * field>", and per scenario (bench/run.ts's names) the run they come from, as a run of some
 * scenarios replaces only theirs.
 */
export interface Baseline {
  records: { [scenario: string]: RunRecord };
  ratios: { [key: string]: number };
}

/** One ratio a scenario printed, and which way is better. */
export interface Figure {
  key: string;
  value: number;
  lowerIsBetter: boolean;
}

export interface Scenario {
  name: string;
  /** Ratio fields where smaller is better (times, CPU per call); every other ratio_* is a speed. */
  lowerIsBetter?: string[];
  /** A field whose value names the line too, for a scenario that prints one line per size (rpc: its pool). */
  keyedBy?: string;
}

/** The ratio figures in one line a scenario printed (a JSON object; anything else is prose). */
export function figuresOf(line: string, scenario: Scenario): Figure[] {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return [];
  }
  if (!obj || typeof obj !== 'object') return [];
  const by = scenario.keyedBy !== undefined ? obj[scenario.keyedBy] : undefined;
  const label = `${String(obj.scenario ?? obj.bench ?? scenario.name)}${by !== undefined ? ` ${scenario.keyedBy}=${String(by)}` : ''}`;
  return Object.entries(obj)
    .filter((e): e is [string, number] => e[0].startsWith('ratio_') && typeof e[1] === 'number')
    .map(([k, v]) => ({ key: `${label} ${k}`, value: v, lowerIsBetter: scenario.lowerIsBetter?.includes(k) ?? false }));
}

/** A ratio that got worse by more than this fraction is printed. */
export const DEFAULT_TOLERANCE = 0.2;

/**
 * How much of the recorded figure is left, as a fraction where 1 is unchanged and below 1 is
 * worse, whichever way the ratio points: for a lower-is-better ratio (a time, CPU per call) the
 * inverse is what falls.
 */
export function retained(recorded: number, now: number, lowerIsBetter: boolean): number {
  return lowerIsBetter ? recorded / now : now / recorded;
}

/**
 * The lines a quick run prints: each ratio that fell by more than `tolerance`, each ratio the
 * baseline does not hold, or that there is no baseline at all.
 */
export function regressions(baseline: Baseline | null, figures: Figure[], tolerance = DEFAULT_TOLERANCE): string[] {
  if (!baseline) return ['no baseline recorded (bench/baseline.json): a full `npm run bench` (without --quick) records one'];
  const out: string[] = [];
  for (const f of figures) {
    const was = baseline.ratios[f.key];
    if (was === undefined) {
      out.push(`${f.key}: ${f.value}, no recorded figure to compare with`);
      continue;
    }
    const kept = retained(was, f.value, f.lowerIsBetter);
    // A zero, an infinity or NaN on either side is a broken scenario, not a figure: say so.
    if (!Number.isFinite(kept) || kept <= 0) out.push(`${f.key}: ${was} → ${f.value}, not comparable`);
    else if (kept < 1 - tolerance) {
      const way = f.lowerIsBetter ? 'lower is better' : 'higher is better';
      out.push(`${f.key}: ${was} → ${f.value} (${way}): ${((1 - kept) * 100).toFixed(1)}% worse than recorded`);
    }
  }
  return out;
}
