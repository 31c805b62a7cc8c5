/**
 * What keeps an idle daemon light (bench/idle.ts; ~103 MB before, Node itself starts at ~40).
 * Imported alone by the entry (hyved.ts), before the rest of the module graph is even loaded:
 * parsing those modules is itself the first burst of allocations these flags are for.
 *
 * Start-up (loading the modules, compiling every action's schema) allocates a burst of short-lived
 * objects and runs ajv's code generator hot. V8 answers by growing the young generation to its
 * maximum, 16 MiB it does not give back, and by optimizing the generator with TurboFan, whose
 * compiler memory malloc keeps: together about 27 MB, for work done once. So, for start-up only,
 * the young generation keeps its initial size and nothing is optimized; `startedUp` restores V8's
 * defaults for the requests that follow. (V8 reads both flags on every use: the growth factor when
 * a scavenge decides to grow, the optimizer's switch when a function gets hot.)
 */
import v8 from 'node:v8';

v8.setFlagsFromString('--semi-space-growth-factor=1');
v8.setFlagsFromString('--no-turbofan');

// ws's optional native bufferutil weighs 3.5 MB resident, to unmask client frames that are
// requests of a few hundred bytes; ws's JavaScript does that as well. ws reads this when loaded.
process.env.WS_NO_BUFFER_UTIL ??= '1';

export function startedUp(): void {
  // V8's defaults (node --v8-options): the young generation doubles when it must grow.
  v8.setFlagsFromString('--semi-space-growth-factor=2');
  v8.setFlagsFromString('--turbofan');
}
