/**
 * What went wrong in openid-client, in words for the log, and whether discovering the provider
 * again could help. openid-client wraps oauth4webapi's errors ("invalid response encountered"),
 * so the reason sits down the cause chain. The causes also carry objects (the token response body,
 * the ID token's claims, the signed bytes): only messages, codes and the JWT header's `alg` and
 * `kid` are ever printed, never a token.
 */

const MAX_DEPTH = 6;

function* chain(error: unknown): Generator<unknown> {
  let current = error;
  for (let depth = 0; depth < MAX_DEPTH && current !== undefined && current !== null; depth += 1) {
    yield current;
    current = current instanceof Error ? current.cause : undefined;
  }
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The safe details of a non-Error cause: the JWT header's alg and kid, what was expected instead. */
function detailsOf(cause: object): string | undefined {
  const { header, expected, reason, alg } = cause as Record<string, unknown>;
  const details: string[] = [];
  if (typeof header === 'object' && header !== null) {
    const { alg: headerAlg, kid } = header as Record<string, unknown>;
    if (stringOf(headerAlg)) details.push(`alg ${String(headerAlg)}`);
    if (stringOf(kid)) details.push(`kid ${String(kid)}`);
    // Only next to a header is `expected` an algorithm list (elsewhere it can be a nonce).
    const algorithms = [expected].flat().filter((item): item is string => typeof item === 'string');
    if (algorithms.length > 0) details.push(`expected ${algorithms.join(', ')}${stringOf(reason) ? ` from the ${String(reason)}` : ''}`);
  }
  if (stringOf(alg)) details.push(`alg ${String(alg)}`);
  return details.length > 0 ? details.join(', ') : undefined;
}

/**
 * The cause chain as one line: `invalid response encountered: unexpected JWT "alg" header
 * parameter (alg ES256, kid ..., expected RS256 from the authorization server metadata)`.
 */
export function describeFailure(error: unknown): string {
  const parts: string[] = [];
  let lastCode: unknown;
  let lastMessage: string | undefined;
  for (const link of chain(error)) {
    if (link instanceof Error) {
      const { code, error: oauthError, error_description: description } = link as Error & Record<string, unknown>;
      // openid-client often repeats the message of the error it wraps: say it once.
      if (link.message === lastMessage) continue;
      let text = link.message;
      // A provider's error answer (invalid_grant...) says more than oauth4webapi's wording.
      if (stringOf(oauthError)) text += ` (${String(oauthError)}${stringOf(description) ? `: ${String(description)}` : ''})`;
      if (stringOf(code) && code !== lastCode) text += ` [${String(code)}]`;
      lastCode = code;
      lastMessage = link.message;
      parts.push(text);
    } else if (typeof link === 'object' && link !== null) {
      const details = detailsOf(link);
      if (details && parts.length > 0) parts[parts.length - 1] += ` (${details})`;
    }
  }
  return parts.join(': ') || String(error);
}

/**
 * Whether the ID token failed on what the provider's metadata says about its keys: an `alg` the
 * discovery document did not list, a `kid` the cached JWKS does not hold, or a signature that key
 * does not verify (a key replaced under the same kid). A fresh discovery (and JWKS) may fix these.
 */
export function keysMayHaveChanged(error: unknown): boolean {
  for (const link of chain(error)) {
    if (!(link instanceof Error)) continue;
    if ((link as Error & { code?: unknown }).code === 'OAUTH_KEY_SELECTION_FAILED') return true;
    if (/unexpected JWT "alg" header parameter|JWT signature verification failed/.test(link.message)) return true;
  }
  return false;
}
