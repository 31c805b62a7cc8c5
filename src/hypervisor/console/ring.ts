/**
 * The last `capacity` bytes of a stream, addressed by the stream's running offset: replays and
 * scrollback of recent output are served from memory, older ones from the segment files.
 */
export class Ring {
  private readonly buf: Buffer;
  /** Offset one past the newest byte held. */
  private endOffset = 0;
  private held = 0;

  constructor(readonly capacity: number) {
    this.buf = Buffer.alloc(capacity);
  }

  /** Offset of the oldest byte held. */
  get start(): number {
    return this.endOffset - this.held;
  }

  get end(): number {
    return this.endOffset;
  }

  /** Empties the ring and places its end at `offset` (when output resumes after a gap, e.g. at start-up). */
  reset(offset: number): void {
    this.endOffset = offset;
    this.held = 0;
  }

  /** Appends `data`, which must start at `end`. */
  push(data: Buffer): void {
    const cap = this.capacity;
    let src = data;
    if (src.length >= cap) src = src.subarray(src.length - cap);
    const at = (this.endOffset + data.length - src.length) % cap;
    const first = Math.min(src.length, cap - at);
    src.copy(this.buf, at, 0, first);
    if (first < src.length) src.copy(this.buf, 0, first);
    this.endOffset += data.length;
    this.held = Math.min(cap, this.held + data.length);
  }

  /** Bytes [from, min(end, from+limit)), or null if `from` is older than what is held. */
  slice(from: number, limit = Infinity): Buffer | null {
    if (from < this.start || from > this.endOffset) return null;
    const n = Math.min(this.endOffset - from, limit);
    const cap = this.capacity;
    const at = from % cap;
    const first = Math.min(n, cap - at);
    if (first === n) return Buffer.from(this.buf.subarray(at, at + n));
    return Buffer.concat([this.buf.subarray(at, cap), this.buf.subarray(0, n - first)]);
  }
}
