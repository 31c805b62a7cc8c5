import { Writable } from 'node:stream';
import { badRequest } from '../core/errors.js';

/** Sector 16 (of 2,048 bytes) holds the first volume descriptor; its identifier follows the type byte. */
const ID_OFFSET = 16 * 2048 + 1;
const ID = 'CD001';
const END = ID_OFFSET + ID.length;

/**
 * Checks, as an upload streams past, that it is an ISO 9660 image: the standard identifier `CD001`
 * of a volume descriptor at byte 32769. The rest of the body passes unread. Resolves once the bytes
 * are in, rejects (400) as soon as they are wrong or the body ends first.
 */
export function iso9660Inspector(): { input: Writable; result: Promise<void> } {
  const head = Buffer.alloc(END);
  let got = 0;
  let decided = false;
  let settle!: { resolve: () => void; reject: (err: Error) => void };
  const result = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  const decide = () => {
    decided = true;
    if (got >= END && head.toString('latin1', ID_OFFSET, END) === ID) settle.resolve();
    else settle.reject(badRequest(`body: not an ISO 9660 image: no volume descriptor '${ID}' at offset ${ID_OFFSET}${got < END ? ` (the file has ${got} bytes)` : ''}`));
  };
  const input = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (got < END) got += chunk.copy(head, got, 0, END - got);
      if (!decided && got >= END) decide();
      done();
    },
    final(done) {
      if (!decided) decide();
      done();
    },
  });
  return { input, result };
}
