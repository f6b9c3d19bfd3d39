/**
 * Response header values are partly built from what a request sent: model names, user and team
 * ids (budget warnings), request ids, routing decisions. Node refuses to write a header value
 * with a character outside tab, printable ASCII and Latin-1 (`ERR_INVALID_CHAR`), and clients
 * read bytes above ASCII inconsistently, so every value goes through `headerValue` first:
 *
 * - printable ASCII (0x20–0x7E) passes unchanged, so ordinary values are untouched;
 * - control characters (C0, DEL; CR and LF included) are removed;
 * - any other character is percent-encoded as its UTF-8 bytes, as in a URL
 *   (`gpt-4o-mini-€` → `gpt-4o-mini-%E2%82%AC`); a lone surrogate becomes U+FFFD first;
 * - a value longer than `MAX_HEADER_VALUE_CHARS` after encoding is cut at a whole character,
 *   so no client refuses the response for an oversized header.
 *
 * Encoding rather than dropping the header keeps the information readable. A literal `%`
 * passes unchanged (values such as `used=85%` stay as they are), so decoding is best-effort:
 * these headers are informational, never parsed back by the gateway.
 */
export const MAX_HEADER_VALUE_CHARS = 1024;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

export function headerValue(text: string): string {
  if (text.length <= MAX_HEADER_VALUE_CHARS && PRINTABLE_ASCII.test(text)) return text;
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    let piece: string;
    if (code < 0x20 || code === 0x7f) continue;
    if (code < 0x7f) piece = char;
    else if (code >= 0xd800 && code <= 0xdfff) piece = '%EF%BF%BD';
    else piece = encodeURIComponent(char);
    if (out.length + piece.length > MAX_HEADER_VALUE_CHARS) break;
    out += piece;
  }
  return out;
}

/**
 * One response head from several sources, later ones winning, every value passed through
 * `headerValue`: the edge builds a request's head in this single object.
 */
export function safeHeaders(
  ...sources: ReadonlyArray<Readonly<Record<string, string>> | undefined>
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const headers of sources) {
    if (headers === undefined) continue;
    for (const name in headers) out[name] = headerValue(String(headers[name]));
  }
  return out;
}
