import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Baseline, figuresOf, regressions } from '../../bench/compare.js';

const baseline = (ratios: { [key: string]: number }): Baseline => ({ records: { rpc: { recorded: '2026-12-02 06:00 UTC', machine: 'test', load: '1.0 → 1.0', commit: 'abc' } }, ratios });

test('a ratio 25% worse than recorded is printed, one 10% worse or better is not, whichever way the ratio points', () => {
  const base = baseline({ 'rpc connections=16 ratio_calls_hyved_over_bare': 1.0, 'iso-fetch ratio_hyved_over_curl': 0.9, 'provision ratio_hyved_over_by_hand': 1.0, 'vm-start ratio_marker_hyved_over_direct': 1.0 });
  const lines = regressions(base, [
    { key: 'rpc connections=16 ratio_calls_hyved_over_bare', value: 0.75, lowerIsBetter: false },
    { key: 'iso-fetch ratio_hyved_over_curl', value: 0.81, lowerIsBetter: false },
    // A time ratio grown by a third is 25% worse; one that fell by 25% is better.
    { key: 'provision ratio_hyved_over_by_hand', value: 1.34, lowerIsBetter: true },
    { key: 'vm-start ratio_marker_hyved_over_direct', value: 0.75, lowerIsBetter: true },
  ]);
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(lines[0], /^rpc connections=16 ratio_calls_hyved_over_bare: 1 → 0\.75 \(higher is better\): 25\.0% worse/);
  assert.match(lines[1], /^provision ratio_hyved_over_by_hand: 1 → 1\.34 \(lower is better\): 25\.[0-9]% worse/);
});

test('the 20% line: 21% worse is printed, 19% is not', () => {
  const base = baseline({ a: 100, b: 100 });
  const lines = regressions(base, [{ key: 'a', value: 79, lowerIsBetter: false }, { key: 'b', value: 81, lowerIsBetter: false }]);
  assert.deepEqual(lines.map((l) => l.split(':')[0]), ['a']);
});

test('a missing baseline, a ratio it does not hold and a broken figure are each said so', () => {
  assert.match(regressions(null, [{ key: 'a', value: 1, lowerIsBetter: false }]).join('\n'), /no baseline recorded/);
  const lines = regressions(baseline({ a: 1 }), [{ key: 'new ratio_x', value: 2, lowerIsBetter: false }, { key: 'a', value: 0, lowerIsBetter: false }]);
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^new ratio_x: 2, no recorded figure/);
  assert.match(lines[1], /^a: 1 → 0, not comparable/);
});

test('figures are the ratio_* numbers of a JSON line, named by scenario and pool size, with their direction', () => {
  const line = JSON.stringify({ scenario: 'rpc', connections: 16, hyved: { calls_per_s: 5 }, ratio_calls_hyved_over_bare: 0.97, ratio_p50_hyved_over_bare: 1.1, target_ratio: 0.9, ratio_null: null });
  assert.deepEqual(figuresOf(line, { name: 'rpc', keyedBy: 'connections', lowerIsBetter: ['ratio_p50_hyved_over_bare'] }), [
    { key: 'rpc connections=16 ratio_calls_hyved_over_bare', value: 0.97, lowerIsBetter: false },
    { key: 'rpc connections=16 ratio_p50_hyved_over_bare', value: 1.1, lowerIsBetter: true },
  ]);
  assert.deepEqual(figuresOf(JSON.stringify({ bench: 'nat-guard', ratio_guard_relay: 0.6 }), { name: 'nat-guard' }).map((f) => f.key), ['nat-guard ratio_guard_relay']);
  assert.deepEqual(figuresOf('| a markdown | table |', { name: 'dashboard' }), []);
  assert.deepEqual(figuresOf('null', { name: 'x' }), []);
});
