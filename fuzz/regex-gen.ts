/**
 * A tiny generator of strings matching a JSON Schema `pattern` (the subset of ECMAScript regex
 * syntax that schemas use: anchors, classes, ranges, groups, alternation, quantifiers, escapes).
 * Unsupported constructs degrade to literal characters; callers re-check the result anyway.
 */
import type { Rng } from './prng.js';

type Range = [number, number];
interface CharSet { kind: 'set'; ranges: Range[]; negated: boolean }
interface Group { kind: 'group'; alts: Node[][] }
type Atom = CharSet | Group;
interface Node { atom: Atom; min: number; max: number }

const DIGIT: Range[] = [[0x30, 0x39]];
const WORD: Range[] = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];
const SPACE: Range[] = [[0x09, 0x0d], [0x20, 0x20], [0xa0, 0xa0], [0x2028, 0x2029], [0xfeff, 0xfeff]];
const LINE_END: Range[] = [[0x0a, 0x0a], [0x0d, 0x0d], [0x2028, 0x2029]];

/** Characters tried for negated classes and `.`: mostly plain, some that stress text handling. */
const PLAIN = ' abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+=~:@,;!?#%&*()[]{}<>/\\|\'"`^$'
  .split('')
  .map((c) => c.codePointAt(0)!);
const EXOTIC = [
  0xe9, 0xdf, 0x4e2d, 0x6587, 0x0627, 0x05d0, // é ß 中 文 ا א
  0x202e, 0x202d, 0x200f, 0x200e, // RTL/LTR overrides and marks
  0x0301, 0x0308, 0x036f, // combining marks
  0x200b, 0x200d, 0xfeff, 0x2028, 0x2029, 0xfffd, 0xffff, // zero width, BOM, separators, specials
  0x1f600, 0x1f4a9, 0x1f1fa, 0x1f1f8, 0x1d54f, 0x10ffff, // astral
  0xd800, 0xdfff, // lone surrogates
  0x7f, 0x85, 0xa0,
];

export class RegexGen {
  private pos = 0;
  private readonly root: Node[][];

  constructor(private readonly src: string) {
    this.root = this.parseAlts();
  }

  /** A string matching the pattern; `exotic` is the chance of unusual characters in open classes. */
  generate(rng: Rng, opts: { maxRepeat?: number; exotic?: number } = {}): string {
    const out: string[] = [];
    this.emitAlts(this.root, rng, out, opts.maxRepeat ?? 16, opts.exotic ?? 0.1);
    return out.join('');
  }

  // --- parsing ------------------------------------------------------------------------------

  private peek(): string | undefined {
    return this.src[this.pos];
  }

  private parseAlts(): Node[][] {
    const alts: Node[][] = [this.parseSeq()];
    while (this.peek() === '|') {
      this.pos++;
      alts.push(this.parseSeq());
    }
    return alts;
  }

  private parseSeq(): Node[] {
    const seq: Node[] = [];
    while (this.pos < this.src.length) {
      const c = this.peek()!;
      if (c === '|' || c === ')') break;
      if (c === '^' || c === '$') {
        this.pos++;
        continue;
      }
      const atom = this.parseAtom();
      if (!atom) continue;
      const [min, max] = this.parseQuantifier();
      seq.push({ atom, min, max });
    }
    return seq;
  }

  private parseAtom(): Atom | null {
    const c = this.src[this.pos++];
    if (c === '(') {
      if (this.src.startsWith('?:', this.pos)) this.pos += 2;
      else if (this.src.startsWith('?=', this.pos) || this.src.startsWith('?!', this.pos)) {
        // Lookahead: skip it entirely (the caller re-validates).
        let depth = 1;
        while (this.pos < this.src.length && depth > 0) {
          const d = this.src[this.pos++];
          if (d === '\\') this.pos++;
          else if (d === '(') depth++;
          else if (d === ')') depth--;
        }
        return null;
      }
      const alts = this.parseAlts();
      if (this.peek() === ')') this.pos++;
      return { kind: 'group', alts };
    }
    if (c === '[') return this.parseClass();
    if (c === '.') return { kind: 'set', ranges: LINE_END, negated: true };
    if (c === '\\') {
      const e = this.parseEscape();
      if (e === 'boundary') return null;
      return e;
    }
    const cp = this.src.codePointAt(this.pos - 1)!;
    if (cp > 0xffff) this.pos++;
    return { kind: 'set', ranges: [[cp, cp]], negated: false };
  }

  /** After a backslash: a class escape or one literal character. */
  private parseEscape(): CharSet | 'boundary' {
    const c = this.src[this.pos++];
    switch (c) {
      case 'd':
        return { kind: 'set', ranges: DIGIT, negated: false };
      case 'D':
        return { kind: 'set', ranges: DIGIT, negated: true };
      case 'w':
        return { kind: 'set', ranges: WORD, negated: false };
      case 'W':
        return { kind: 'set', ranges: WORD, negated: true };
      case 's':
        return { kind: 'set', ranges: SPACE, negated: false };
      case 'S':
        return { kind: 'set', ranges: SPACE, negated: true };
      case 'b':
      case 'B':
        return 'boundary';
      default: {
        const cp = this.escapedCodePoint(c);
        return { kind: 'set', ranges: [[cp, cp]], negated: false };
      }
    }
  }

  private escapedCodePoint(c: string): number {
    switch (c) {
      case 'n':
        return 0x0a;
      case 'r':
        return 0x0d;
      case 't':
        return 0x09;
      case 'f':
        return 0x0c;
      case 'v':
        return 0x0b;
      case '0':
        return 0;
      case 'x': {
        const hex = this.src.slice(this.pos, this.pos + 2);
        this.pos += 2;
        return parseInt(hex, 16);
      }
      case 'u': {
        if (this.peek() === '{') {
          const end = this.src.indexOf('}', this.pos);
          const hex = this.src.slice(this.pos + 1, end);
          this.pos = end + 1;
          return parseInt(hex, 16);
        }
        const hex = this.src.slice(this.pos, this.pos + 4);
        this.pos += 4;
        return parseInt(hex, 16);
      }
      default:
        return c.codePointAt(0)!;
    }
  }

  private parseClass(): CharSet {
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.pos++;
    }
    const ranges: Range[] = [];
    let first = true;
    while (this.pos < this.src.length && (this.peek() !== ']' || first)) {
      first = false;
      const lo = this.classChar();
      if (Array.isArray(lo)) {
        ranges.push(...lo);
        continue;
      }
      if (this.peek() === '-' && this.src[this.pos + 1] !== ']' && this.pos + 1 < this.src.length) {
        this.pos++;
        const hi = this.classChar();
        if (Array.isArray(hi)) {
          ranges.push([lo, lo], [0x2d, 0x2d], ...hi);
          continue;
        }
        ranges.push([lo, hi]);
      } else {
        ranges.push([lo, lo]);
      }
    }
    this.pos++; // ']'
    return { kind: 'set', ranges, negated };
  }

  private classChar(): number | Range[] {
    const c = this.src[this.pos++];
    if (c !== '\\') {
      const cp = this.src.codePointAt(this.pos - 1)!;
      if (cp > 0xffff) this.pos++;
      return cp;
    }
    const e = this.src[this.pos++];
    if (e === 'd') return DIGIT;
    if (e === 'w') return WORD;
    if (e === 's') return SPACE;
    if (e === 'b') return 0x08;
    return this.escapedCodePoint(e);
  }

  private parseQuantifier(): [number, number] {
    let q: [number, number] = [1, 1];
    const c = this.peek();
    if (c === '*') q = [0, Infinity];
    else if (c === '+') q = [1, Infinity];
    else if (c === '?') q = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
      if (!m) return q;
      this.pos += m[0].length;
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      if (this.peek() === '?') this.pos++;
      return [min, max];
    } else return q;
    this.pos++;
    if (this.peek() === '?') this.pos++;
    return q;
  }

  // --- generation ---------------------------------------------------------------------------

  private emitAlts(alts: Node[][], rng: Rng, out: string[], maxRepeat: number, exotic: number): void {
    for (const node of rng.pick(alts)) {
      const max = node.max === Infinity ? node.min + maxRepeat : node.max;
      const n = rng.length(node.min, max);
      for (let i = 0; i < n; i++) {
        if (node.atom.kind === 'group') this.emitAlts(node.atom.alts, rng, out, maxRepeat, exotic);
        else out.push(String.fromCodePoint(pickChar(node.atom, rng, exotic)));
      }
    }
  }
}

function inRanges(cp: number, ranges: Range[]): boolean {
  return ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
}

function pickChar(set: CharSet, rng: Rng, exotic: number): number {
  if (!set.negated) {
    // Weight ranges by size, but not so much that single characters never come up.
    const weights = set.ranges.map(([lo, hi]) => Math.min(hi - lo + 1, 26));
    const total = weights.reduce((a, b) => a + b, 0);
    let r = rng.int(total);
    for (let i = 0; i < set.ranges.length; i++) {
      if ((r -= weights[i]) < 0) {
        const [lo, hi] = set.ranges[i];
        return lo + rng.int(hi - lo + 1);
      }
    }
    return set.ranges[0]?.[0] ?? 0x61;
  }
  for (let tries = 0; tries < 50; tries++) {
    const cp = rng.chance(exotic) ? rng.pick(EXOTIC) : rng.pick(PLAIN);
    if (!inRanges(cp, set.ranges)) return cp;
  }
  return 0x61;
}

const cache = new Map<string, RegexGen>();

export function regexGen(pattern: string): RegexGen {
  let g = cache.get(pattern);
  if (!g) cache.set(pattern, (g = new RegexGen(pattern)));
  return g;
}
