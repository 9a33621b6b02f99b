import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Time-ordered ids (like ULIDs): sortable by creation, so logs page by id; random enough never to collide. */
// random bytes drawn in blocks: one call into the system's generator per 400 ids, not one per id
let pool = Buffer.alloc(0);
let offset = 0;

function randomTail(length: number): string {
  if (offset + length > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  let tail = '';
  for (let i = 0; i < length; i++) tail += ALPHABET[pool[offset++] % 32];
  return tail;
}

export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
  return `${prefix}_${time}${randomTail(10)}`;
}
