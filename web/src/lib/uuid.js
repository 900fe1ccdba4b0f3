// UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, 12 bits that count
// up within one millisecond (so ids minted in a burst still sort in order),
// the variant, and 62 random bits.  Used for client-minted record ids and
// idempotency keys, so a write made offline keeps its identity when replayed.

let lastMs = -1;
let counter = 0;

function randomBytes(n) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return b;
}

export function uuidv7(now = Date.now()) {
  let ms = Math.max(now, lastMs);
  if (ms === lastMs) {
    counter += 1;
    if (counter > 0xfff) {
      ms += 1; // borrow the next millisecond rather than repeat
      counter = 0;
    }
  } else {
    counter = randomBytes(2)[0] & 0x3f; // random start, room to count up
  }
  lastMs = ms;
  const b = randomBytes(16);
  const hi = Math.floor(ms / 2 ** 16);
  const lo = ms % 2 ** 16;
  b[0] = (hi >>> 24) & 0xff;
  b[1] = (hi >>> 16) & 0xff;
  b[2] = (hi >>> 8) & 0xff;
  b[3] = hi & 0xff;
  b[4] = (lo >>> 8) & 0xff;
  b[5] = lo & 0xff;
  b[6] = 0x70 | ((counter >>> 8) & 0x0f);
  b[7] = counter & 0xff;
  b[8] = 0x80 | (b[8] & 0x3f);
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
