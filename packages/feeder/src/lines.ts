/** Marks a line that exceeded the length limit; its bytes were discarded as they arrived. */
export const TOO_LONG = null;

/** The complete lines found in one chunk of input, and the input bytes consumed so far. */
export interface LineBatch {
  /** Line contents without the `\n` (a `\r` before it is kept), or {@link TOO_LONG}. */
  readonly lines: (Buffer | typeof TOO_LONG)[];
  readonly bytes: number;
}

/**
 * Splits a byte stream on `\n` without decoding it, so one line of bad bytes cannot corrupt its
 * neighbours and each line can be decoded (and rejected) on its own. Memory is bounded by the
 * chunk size plus `maxLineBytes`: a longer line is dropped as it streams past and reported as
 * {@link TOO_LONG}. A last line without a terminating `\n` is still yielded.
 */
export async function* splitLines(source: AsyncIterable<Buffer>, maxLineBytes: number): AsyncGenerator<LineBatch> {
  let carry: Buffer[] = [];
  let carryLen = 0;
  let oversize = false;
  let bytes = 0;
  for await (const chunk of source) {
    bytes += chunk.length;
    const lines: (Buffer | typeof TOO_LONG)[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      if (oversize) {
        lines.push(TOO_LONG);
        oversize = false;
      } else if (carryLen > 0) {
        lines.push(carryLen + piece.length > maxLineBytes ? TOO_LONG : Buffer.concat([...carry, piece], carryLen + piece.length));
        carry = [];
        carryLen = 0;
      } else {
        lines.push(piece.length > maxLineBytes ? TOO_LONG : piece);
      }
      start = nl + 1;
    }
    if (start < chunk.length && !oversize) {
      const rest = chunk.length - start;
      if (carryLen + rest > maxLineBytes) {
        oversize = true;
        carry = [];
        carryLen = 0;
      } else {
        // A copy, so the carried tail does not pin the whole chunk.
        carry.push(Buffer.from(chunk.subarray(start)));
        carryLen += rest;
      }
    }
    yield { lines, bytes };
  }
  if (oversize) yield { lines: [TOO_LONG], bytes };
  else if (carryLen > 0) yield { lines: [Buffer.concat(carry, carryLen)], bytes };
}
