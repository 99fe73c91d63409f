/** `Authorization: Basic` parsing (RFC 7617), strict: malformed input is refused, never guessed at. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** Longer than any sane user:password; bounds the work done for a hostile header. */
const MAX_ENCODED = 4096;

export type BasicCredentials = { ok: true; username: string; password: string } | { ok: false; reason: string } | { ok: 'empty' };

export function parseBasic(header: string): BasicCredentials | undefined {
  const match = /^Basic[ ]+([A-Za-z0-9+/=]*)[ ]*$/i.exec(header);
  if (!/^Basic( |$)/i.test(header)) return undefined;
  if (!match) return { ok: false, reason: 'malformed Basic credentials' };
  const encoded = match[1]!;
  if (encoded.length > MAX_ENCODED) return { ok: false, reason: 'Basic credentials too long' };
  let decoded: string;
  try {
    decoded = UTF8.decode(Buffer.from(encoded, 'base64'));
  } catch {
    return { ok: false, reason: 'Basic credentials are not UTF-8' };
  }
  // containers/image answers a challenge with `Basic Og==` (":") when it has no credentials.
  if (decoded === ':' || decoded === '') return { ok: 'empty' };
  const colon = decoded.indexOf(':');
  if (colon <= 0) return { ok: false, reason: 'Basic credentials need "user:password"' };
  return { ok: true, username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
