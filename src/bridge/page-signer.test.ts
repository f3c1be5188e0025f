import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base64url, hmacSha256, sha256 } from '../shared/hmac-sha256.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const text = (value: string) => new TextEncoder().encode(value);

describe('hmacSha256 (the page signs photo URLs with it; the bridge checks them with node:crypto)', () => {
  it('matches RFC 4231’s test vectors', () => {
    expect(hex(hmacSha256(new Uint8Array(20).fill(0x0b), text('Hi There')))).toBe('b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
    expect(hex(hmacSha256(text('Jefe'), text('what do ya want for nothing?')))).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    // A key longer than a block is hashed first.
    expect(hex(hmacSha256(new Uint8Array(131).fill(0xaa), text('Test Using Larger Than Block-Size Key - Hash Key First')))).toBe(
      '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    );
  });

  it('agrees with node:crypto (what the bridge checks with) at every length around the block edges', () => {
    for (let length = 0; length < 200; length++) {
      const key = randomBytes(length % 70);
      const message = randomBytes(length);
      expect(hex(sha256(message)), `sha256 of ${length} bytes`).toBe(createHash('sha256').update(message).digest('hex'));
      expect(base64url(hmacSha256(key, message)), `hmac of ${length} bytes`).toBe(createHmac('sha256', key).update(message).digest('base64url'));
    }
  });
});
