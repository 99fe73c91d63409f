/**
 * The UI's colour pairs meet WCAG AA (4.5:1 for text) in both themes, computed from the custom
 * properties in berth.css: text, muted text and links on the page and on surfaces, button text on
 * the accent, notices and alerts. The dark theme's primary button was white on #2f81f7 (3.75:1).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const css = readFileSync('src/ui/assets/berth.css', 'utf8');

function variables(block: string): Record<string, string> {
  return Object.fromEntries([...block.matchAll(/--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;/g)].map((match) => [match[1]!, match[2]!]));
}

const light = variables(css.slice(css.indexOf(':root {'), css.indexOf('}', css.indexOf(':root {'))));
const darkStart = css.indexOf(':root {', css.indexOf('@media (prefers-color-scheme: dark)'));
const dark = { ...light, ...variables(css.slice(darkStart, css.indexOf('}', darkStart))) };

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((at) => {
    const channel = parseInt(hex.slice(at, at + 2), 16) / 255;
    return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

function contrast(a: string, b: string): number {
  const [high, low] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (high! + 0.05) / (low! + 0.05);
}

const TEXT_PAIRS: Array<[string, string]> = [
  ['text', 'bg'],
  ['text', 'surface'],
  ['muted', 'bg'],
  ['muted', 'surface'],
  ['link', 'bg'],
  ['link', 'surface'],
  ['accent-text', 'accent'],
  ['notice-text', 'notice-bg'],
  ['alert-text', 'alert-bg'],
];

describe('UI colours', () => {
  for (const [theme, colours] of [
    ['light', light],
    ['dark', dark],
  ] as const) {
    it.each(TEXT_PAIRS)(`${theme}: --%s on --%s is at least 4.5:1`, (foreground, background) => {
      expect(colours[foreground], `--${foreground}`).toMatch(/^#/);
      expect(colours[background], `--${background}`).toMatch(/^#/);
      expect(contrast(colours[foreground]!, colours[background]!)).toBeGreaterThanOrEqual(4.5);
    });
  }
});
