/** Counts of what is open per key (connections per address, password checks per network), gone at zero. */
export class Counts {
  private readonly byKey = new Map<string, number>();

  get(key: string): number {
    return this.byKey.get(key) ?? 0;
  }

  add(key: string): void {
    this.byKey.set(key, this.get(key) + 1);
  }

  remove(key: string): void {
    const left = this.get(key) - 1;
    if (left > 0) this.byKey.set(key, left);
    else this.byKey.delete(key);
  }
}
