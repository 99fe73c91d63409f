/**
 * axe-core (the engine of the audit, 4.14) run inside a playwright page: the page gets
 * node_modules/axe-core/axe.min.js as a script tag, runs `axe.run()` over the whole document, and
 * the serious and critical violations come back with the selectors of the nodes that fail, so a
 * failing test can say which rule and where. Berth's Content-Security-Policy allows only its own
 * scripts (no inline script, no eval), so axe is not added as a script tag: its source is evaluated
 * through the DevTools protocol (playwright's evaluate of a string), which the page's CSP does not
 * govern, and the page under test keeps its real policy.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import type { AxeResults, ImpactValue } from 'axe-core';

/** One rule that failed, and where. */
export interface AxeViolation {
  id: string;
  impact: ImpactValue | undefined;
  help: string;
  /** A CSS selector per failing node. */
  targets: string[];
}

const AXE_FILE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
let source: Promise<string> | undefined;

/** The violations of impact serious or critical on the page as it is now. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  source ??= readFile(AXE_FILE, 'utf8');
  const script = await source;
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(script);
  const results = await page.evaluate("axe.run(document, { resultTypes: ['violations'] })");
  return (results as AxeResults).violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => ({ id: violation.id, impact: violation.impact, help: violation.help, targets: violation.nodes.map((node) => node.target.join(' ')) }));
}

/** `rule-id (impact): selector, selector` lines for an assertion message. */
export function describeViolations(violations: AxeViolation[]): string {
  return violations.map((violation) => `${violation.id} (${violation.impact}): ${violation.help}: ${violation.targets.join(', ')}`).join('\n');
}
