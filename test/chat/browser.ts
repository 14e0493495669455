// Real Chromium for the page tests: Debian's /usr/bin/chromium driven by
// playwright-core (no browser download), a fresh user-data dir per launch,
// screenshots saved under test-output/screenshots/ with the path printed,
// and every console error and page error of every page collected.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Teardownable } from '../../src/testing/index.js';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-output', 'screenshots');

const WAIT = { timeout: 20_000 };

/** Signs in with the form, as a person would. */
export async function signIn(page: Page, id: string): Promise<void> {
  await page.getByLabel('User id').fill(id);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Friends' }).waitFor(WAIT);
}

/** The buddy-list button of a friend. */
export const buddy = (page: Page, id: string) => page.getByRole('navigation', { name: 'Friends' }).getByRole('button', { name: new RegExp(`^User ${id}\\b`) });
/** The conversation window with a friend. */
export const conversation = (page: Page, id: string) => page.getByRole('region', { name: `Conversation with User ${id}` });

/** Sends `text` from the open conversation with `id` and returns when it shows there. */
export async function say(page: Page, id: string, text: string): Promise<void> {
  const conv = conversation(page, id);
  await conv.getByLabel('Message', { exact: true }).fill(text);
  await conv.getByRole('button', { name: 'Send' }).click();
  await conv.getByRole('log').getByText(text, { exact: true }).waitFor(WAIT);
}

const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export interface Chrome {
  browser: Browser;
  /** A new browser context (one "person": its own cookies) with one page open at `url`. */
  person(url: string): Promise<{ context: BrowserContext; page: Page }>;
  /** Another tab of the same context. */
  tab(context: BrowserContext, url: string): Promise<Page>;
  /** Console errors and page errors seen so far, with the page they came from. */
  errors: string[];
  /** The same, each with the time it was seen (Date.now()), for checks scoped to a window of time. */
  timedErrors: { atMs: number; text: string }[];
  /** Saves a full-page PNG and prints its path. */
  shot(page: Page, name: string, log: (s: string) => void): Promise<string>;
}

export async function launchChrome(t: Teardownable): Promise<Chrome> {
  // A fresh profile directory per launch (playwright's launch() makes one; a persistent one is not wanted).
  const home = mkdtempSync(join(tmpdir(), 'bb-chromium-'));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 60_000, env: { ...process.env, HOME: home } });
  t.teardown(async () => {
    await browser.close().catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });
  const errors: string[] = [];
  const timedErrors: { atMs: number; text: string }[] = [];
  const seen = (text: string) => {
    errors.push(text);
    timedErrors.push({ atMs: Date.now(), text });
  };
  const watch = (page: Page, who: string) => {
    page.setDefaultTimeout(20_000);
    page.on('console', (m) => {
      if (m.type() === 'error') seen(`${who}: console: ${m.text()}`);
    });
    page.on('pageerror', (e) => seen(`${who}: pageerror: ${e.message}`));
  };
  let n = 0;
  return {
    browser,
    errors,
    timedErrors,
    async person(url) {
      const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
      const page = await context.newPage();
      watch(page, `person${++n}`);
      await page.goto(url);
      return { context, page };
    },
    async tab(context, url) {
      const page = await context.newPage();
      watch(page, `tab${++n}`);
      await page.goto(url);
      return page;
    },
    async shot(page, name, log) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      const path = join(SCREENSHOTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      log(`screenshot: ${path}`);
      return path;
    },
  };
}

/**
 * Layout faults of a conversation's message list, by bounding boxes: bubbles
 * that overlap the next one, a time or text sticking out of its bubble, a
 * bubble wider than the list, a list that scrolls sideways. Empty when it
 * looks right.
 */
export async function bubbleFaults(page: Page, id: string): Promise<string[]> {
  return conversation(page, id).getByRole('log').evaluate((list) => {
    const out: string[] = [];
    const box = list.getBoundingClientRect();
    const items = [...list.querySelectorAll('li')];
    if (list.scrollWidth > list.clientWidth + 1) out.push(`the list scrolls sideways (${list.scrollWidth} > ${list.clientWidth})`);
    items.forEach((li, i) => {
      const r = li.getBoundingClientRect();
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5) out.push(`bubble ${i} is wider than the list`);
      for (const part of li.querySelectorAll('time, .text, .who')) {
        const p = part.getBoundingClientRect();
        if (p.top < r.top - 0.5 || p.bottom > r.bottom + 0.5 || p.left < r.left - 0.5 || p.right > r.right + 0.5) {
          out.push(`bubble ${i}: its ${part.tagName.toLowerCase()}${part.className ? `.${part.className}` : ''} sticks out (${JSON.stringify([p.top, p.bottom, p.left, p.right])} in ${JSON.stringify([r.top, r.bottom, r.left, r.right])})`);
        }
      }
      const next = items[i + 1];
      if (next !== undefined && next.getBoundingClientRect().top < r.bottom - 0.5) out.push(`bubbles ${i} and ${i + 1} overlap`);
    });
    return out;
  });
}
