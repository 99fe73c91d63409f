/**
 * HTML built with a tagged template that escapes every interpolated value, so text from users or
 * images (labels, annotations, tags, names) can only ever become text. Markup passes through only
 * as `SafeHtml`, which is made by this template itself or, for constant strings, by `trusted`.
 * Attributes are always written in double quotes in the templates, and `"` is escaped, so a value
 * cannot leave its attribute either.
 */

/** Markup that is already safe: produced by `html` (whose values were escaped) or a constant. */
export class SafeHtml {
  constructor(readonly markup: string) {}

  toString(): string {
    return this.markup;
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (character) => ENTITIES[character]!);
}

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.markup;
  if (Array.isArray(value)) return value.map(render).join('');
  // false, null and undefined render nothing, so `${condition && html`...`}` reads naturally.
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i += 1) out += render(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** A constant string of markup written in this code base; never pass data through it. */
export function trusted(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/** A same-origin URL with a query built from parameters (each encoded; undefined ones dropped). */
export function url(path: string, query: Record<string, string | number | undefined> = {}): string {
  const parameters = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') parameters.set(key, String(value));
  const search = parameters.toString();
  return search === '' ? path : `${path}?${search}`;
}
