/**
 * The dashboard in a real headless Chromium (found by test/fixtures/chromium.ts: CHROMIUM_PATH,
 * /usr/bin/chromium, then PATH; none found skips with a loud warning outside CI and fails under
 * CI=true; driven by playwright-core, no browser is ever downloaded), against a running offline
 * demo: the page connects over the WebSocket, its live numbers change, the token table loads and
 * filters, and the CSP blocks nothing the page needs. Saves test-results/dashboard.png.
 *
 * This test waits on real time (the demo runs on the system clock) but never asserts a timing.
 */
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startDemo } from '../../src/demo.js';
import { requireChromium } from '../fixtures/chromium.js';

const FOUND = requireChromium();
const CHROMIUM = FOUND ?? '';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

type Demo = Awaited<ReturnType<typeof startDemo>>;

async function text(page: Page, testId: string): Promise<string> {
  return (await page.getByTestId(testId).textContent())?.trim() ?? '';
}

/** Polls until `read()` differs from `initial` (up to ~15 s); returns the new value. */
async function changed(read: () => Promise<string>, initial: string, what: string): Promise<string> {
  for (let i = 0; i < 60; i++) {
    const v = await read();
    if (v !== initial) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not change from ${JSON.stringify(initial)} within 15 s`);
}

describe.runIf(FOUND !== null)('dashboard in headless Chromium', () => {
  let demo: Demo;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    // 1000 tokens on a 60 req/min market: demand exceeds the budget, so batches flow every second
    // (with a roomier plan the scheduler refreshes everything in one burst per min interval).
    demo = await startDemo({ tokens: 1000, marketRpm: 60, dataDir: 'memory://' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${demo.apiUrl}/`, { waitUntil: 'load' });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  it('connects over the WebSocket and shows live numbers that change over time', async () => {
    await page.locator('[data-testid="connection-state"][data-state="open"]').waitFor({ timeout: 15_000 });
    await page.waitForFunction(
      `document.querySelector('[data-testid="plan-rpm"]')?.textContent?.trim() !== '–'`,
      undefined,
      { timeout: 15_000 },
    );
    expect(Number((await text(page, 'plan-rpm')).replace(/,/g, ''))).toBeGreaterThan(0);
    expect(await text(page, 'circuit-state')).toMatch(/^(closed|half-open|open)$/);

    const stamp = await text(page, 'last-update');
    await changed(() => text(page, 'last-update'), stamp, 'last-update');

    const batches = await text(page, 'batches-count');
    const laterBatches = await changed(() => text(page, 'batches-count'), batches, 'batches-count');
    expect(Number(laterBatches.replace(/,/g, ''))).toBeGreaterThan(Number(batches.replace(/,/g, '')));

    const rpm = await text(page, 'refreshes-per-minute');
    const laterRpm = await changed(() => text(page, 'refreshes-per-minute'), rpm, 'refreshes-per-minute');
    expect(Number(laterRpm.replace(/,/g, ''))).toBeGreaterThan(0);

    await expect.poll(() => page.locator('[data-testid="tier-table"] tbody tr').count()).toBeGreaterThan(0);
  });

  it('loads the token table and filters it by search', async () => {
    const rows = page.locator('[data-testid="token-table"] tbody tr');
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBeGreaterThan(1);
    const symbol = (await rows.first().locator('td').nth(1).textContent())?.trim() ?? '';
    expect(symbol.length).toBeGreaterThan(0);
    await page.getByTestId('token-search').fill(symbol);
    await expect
      .poll(
        async () => {
          const symbols = await page
            .locator('[data-testid="token-table"] tbody tr td:nth-child(2)')
            .allTextContents();
          return symbols.length > 0 && symbols.every((s) => s.toLowerCase().includes(symbol.toLowerCase()));
        },
        { timeout: 10_000 },
      )
      .toBe(true);
    await page.getByTestId('token-search').fill('');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBeGreaterThan(1);
  });

  it('draws the freshness chart, breaks no CSP rule, and saves a screenshot', async () => {
    // Let a few status points accumulate so the chart has lines.
    await page.waitForTimeout(3000);
    // Count painted pixels on the canvas (a string expression: this file has no DOM types).
    const painted = await page.evaluate<number>(`(() => {
      const c = document.querySelector('[data-testid="freshness-chart"]');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let colored = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) colored++;
      return colored;
    })()`);
    expect(painted).toBeGreaterThan(100);
    expect(problems.filter((p) => /Content Security Policy|Refused to/i.test(p))).toEqual([]);
    expect(problems).toEqual([]);
    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });
  });
});
