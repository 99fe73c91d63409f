/**
 * A real headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, for the web
 * UI's end-to-end tests. Each browser gets a fresh profile folder, removed on close, so no test
 * sees another's cookies; `newUser()` clears cookies between people in the same browser.
 */
import { access, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface TestBrowser {
  context: BrowserContext;
  /** A new tab; every request it makes and every page error is recorded for assertions. */
  page(): Promise<Page>;
  /** Forgets every cookie (the next person signs in afresh). */
  newUser(): Promise<void>;
  close(): Promise<void>;
}

export async function openBrowser(options: { colorScheme?: 'light' | 'dark'; javaScript?: boolean } = {}): Promise<TestBrowser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'berth-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 800 },
    colorScheme: options.colorScheme ?? 'light',
    locale: 'en-US',
    timezoneId: 'UTC',
    javaScriptEnabled: options.javaScript ?? true,
  });
  // Fail within a test's time with the locator named, not at vitest's timeout.
  context.setDefaultTimeout(10_000);
  return {
    context,
    page: () => context.newPage(),
    newUser: () => context.clearCookies(),
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** The folder the README shows screenshots from. */
export const SCREENSHOTS = path.resolve('docs/screenshots');

/**
 * Takes a PNG of the viewport (1280x800, or a phone's; not the whole scroll height, to keep files small)
 * and saves it as docs/screenshots/<name>.png when that file is missing or BERTH_SCREENSHOTS=1.
 * Digests, ports and times differ at every run, so rewriting them each time would only churn git.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const png = await page.screenshot({ type: 'png', fullPage: false, animations: 'disabled', caret: 'hide' });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  if (process.env.BERTH_SCREENSHOTS !== '1' && (await exists(file))) return;
  await mkdir(SCREENSHOTS, { recursive: true });
  await writeFile(file, png);
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the element is visible (playwright-core has no expect matchers of its own). */
export async function visible(locator: Locator): Promise<void> {
  await locator.waitFor({ state: 'visible' });
}

/** The element's text once it is visible, trimmed. */
export async function textOf(locator: Locator): Promise<string> {
  await visible(locator);
  return (await locator.innerText()).trim();
}
