import type { PhotoSize } from './api.js';
import { base64url, hmacSha256 } from './hmac-sha256.js';

/**
 * Signed photo URLs for the bridge. An `<img src>` cannot carry the token header, and a cookie would go
 * to every server on the bridge's host; so the page signs each photo URL it renders with a key derived
 * from the token: `/photo/<id>?size=<size>&exp=<unix s>&sig=<HMAC>`. A signature opens that one photo
 * at that size until it expires, and nothing else.
 */

/** How long a signed URL works, at least (expiries are rounded up to a whole window, see photoUrlExpiry). */
export const PHOTO_URL_LIFETIME_S = 10 * 60;

const encoder = new TextEncoder();

/** The photo-signing key: the token itself never appears in a photo URL. */
export function photoSigningKey(token: string): Uint8Array {
  return hmacSha256(encoder.encode(token), encoder.encode('lookalike photo URLs v1'));
}

/** What is signed: the photo, its size and the expiry, in one unambiguous line. */
export function photoSignaturePayload(idText: string, size: string, expiry: string): string {
  return `GET /photo/${idText} ${size} ${expiry}`;
}

/**
 * The expiry for a URL made at `nowMs`: rounded up to the next whole lifetime window plus one, so a
 * photo keeps one URL (and the browser's cached copy) for a window at a time, and every URL lives
 * between one and two lifetimes.
 */
export function photoUrlExpiry(nowMs: number): number {
  return (Math.floor(nowMs / 1000 / PHOTO_URL_LIFETIME_S) + 2) * PHOTO_URL_LIFETIME_S;
}

export function signedPhotoPath(key: Uint8Array, photoId: number, size: PhotoSize, nowMs: number): string {
  const idText = String(Math.trunc(photoId));
  const sizeText = size === 'full' ? 'full' : 'thumb';
  const expiry = String(photoUrlExpiry(nowMs));
  const sig = base64url(hmacSha256(key, encoder.encode(photoSignaturePayload(idText, sizeText, expiry))));
  return `/photo/${idText}?size=${sizeText}&exp=${expiry}&sig=${sig}`;
}
