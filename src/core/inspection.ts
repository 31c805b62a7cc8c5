/**
 * Where an inspector is fed an upload's body as it arrives, beside the write to disk: a node
 * Writable, or the OVA check thread's input (provision/ovf/ova-check-thread.ts), hence a shape
 * rather than a class. Types only, low enough for every floor that feeds or implements one.
 */
export interface InspectorInput {
  readonly destroyed: boolean;
  /**
   * Reads each chunk where it is (shared memory) and says when it is done with it: 'recycle' with the
   * chunk's byteOffset. An inspector without this is given chunks of its own, to keep.
   */
  readonly recycles?: boolean;
  write(chunk: Buffer): boolean;
  end(chunk?: undefined): unknown;
  on(event: 'drain' | 'close', fn: () => void): unknown;
  on(event: 'recycle', fn: (offset: number) => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
  /** Stops the check when the upload fails for another reason. */
  destroy(): unknown;
}

/** Checks a body while it streams; a rejection stops the upload at once. */
export interface Inspection<T = unknown> { input: InspectorInput; result: Promise<T> }
