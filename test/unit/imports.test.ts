import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/daemon.js';

// DESIGN §1: bin → server/facades → classes → queue/hypervisor/provision/store → core. A file may
// import its own floor or one below; type-only imports count, as they tie the floors just the same.
const FLOORS: Record<string, number> = {
  core: 0,
  store: 1,
  queue: 1,
  hypervisor: 1,
  provision: 1,
  classes: 2,
  server: 3,
  facades: 3,
  client: 3,
  bin: 4,
};

const SRC = path.join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

/** Every project file a source file imports (static, re-export and literal dynamic imports). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)].map((m) => m[1] ?? m[2]);
  return specs.filter((s) => s.startsWith('.')).map((s) => path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts')));
}

const floorOf = (file: string) => path.relative(SRC, file).split(path.sep)[0];

function importGraph(): Map<string, string[]> {
  return new Map(sources(SRC).map((f) => [f, importsOf(f)]));
}

/** Strongly connected parts with more than one member (or a self-import): the import cycles. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const part: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        part.push(w);
      } while (w !== v);
      if (part.length > 1 || graph.get(v)!.includes(v)) out.push(part);
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const rel = (f: string) => path.relative(ROOT, f);

test('every source file lives on a known floor and imports only its own floor or lower ones', () => {
  const graph = importGraph();
  const unknown = [...graph.keys()].filter((f) => !(floorOf(f) in FLOORS)).map(rel);
  assert.deepEqual(unknown, [], 'add the new top-level folder to FLOORS (and to DESIGN §1)');
  const upward: string[] = [];
  for (const [file, deps] of graph) {
    for (const dep of deps) {
      if (FLOORS[floorOf(dep)] > FLOORS[floorOf(file)]) upward.push(`${rel(file)} imports ${rel(dep)}`);
    }
  }
  assert.deepEqual(upward, []);
});

test('no import cycles, between files or between the folders of a floor', () => {
  const graph = importGraph();
  assert.deepEqual(cycles(graph).map((c) => c.map(rel)), []);
  // Folder level: store, queue and hypervisor share a floor; they may use each other, but not in a circle.
  const folders = new Map<string, string[]>();
  for (const [file, deps] of graph) {
    const from = path.dirname(path.relative(SRC, file)).split(path.sep)[0];
    const list = folders.get(from) ?? [];
    for (const d of deps) {
      const to = path.relative(SRC, d).split(path.sep)[0];
      if (to !== from && !list.includes(to)) list.push(to);
    }
    folders.set(from, list);
  }
  assert.deepEqual(cycles(folders), []);
});

test('the cycle finder finds a cycle', () => {
  const [a, b, c] = ['core/a.ts', 'server/b.ts', 'core/c.ts'].map((f) => path.join(SRC, f));
  const graph = new Map([[a, [b]], [b, [c]], [c, [a]], [path.join(SRC, 'core/d.ts'), [a]]]);
  assert.deepEqual(cycles(graph).map((part) => part.sort()), [[a, b, c].sort()]);
});
