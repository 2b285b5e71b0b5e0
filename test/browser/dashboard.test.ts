/**
 * The dashboard in a real headless Chromium (found by test/fixtures/chromium.ts: CHROMIUM_PATH,
 * /usr/bin/chromium, then PATH; none found skips with a loud warning outside CI and fails under
 * CI=true; driven by playwright-core, no browser is ever downloaded), against the default offline
 * demo (5,000 tokens on the keyless budget of 30 requests/min): the page connects over the
 * WebSocket and its live numbers change; once the policy has settled the tiers show different
 * intervals, staleness is above zero and "what the policy buys" shows the optimal J below tiered
 * and round-robin; every chart has drawn points; a token's view shows its price history; a reload
 * keeps the charts' history; the Instances panel shows the demo as one instance holding all 64
 * partitions with its share of the plan; the CSP blocks nothing the page needs. Saves
 * test-results/dashboard.png, test-results/token-view.png and test-results/instances.png.
 *
 * This test waits on real time (the demo runs on the system clock) with generous polling limits
 * for a loaded 2-core machine, but never asserts a timing.
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

async function attr(page: Page, testId: string, name: string): Promise<string> {
  return (await page.getByTestId(testId).getAttribute(name)) ?? '';
}

/** Polls until `read()` differs from `initial` (up to ~30 s); returns the new value. */
async function changed(read: () => Promise<string>, initial: string, what: string): Promise<string> {
  for (let i = 0; i < 120; i++) {
    const v = await read();
    if (v !== initial) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not change from ${JSON.stringify(initial)} within 30 s`);
}

const SETTLE = { timeout: 150_000, interval: 1_000 };

describe.runIf(FOUND !== null)('dashboard in headless Chromium', () => {
  let demo: Demo;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    // The demo's defaults: a scarce budget the policy has to spend with care.
    demo = await startDemo({ dataDir: 'memory://' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${demo.apiUrl}/`, { waitUntil: 'load' });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  it('connects over the WebSocket and shows live numbers that change over time', async () => {
    await page.locator('[data-testid="connection-state"][data-state="open"]').waitFor({ timeout: 30_000 });
    await page.waitForFunction(
      `document.querySelector('[data-testid="plan-rpm"]')?.textContent?.trim() !== '–'`,
      undefined,
      { timeout: 30_000 },
    );
    expect(await text(page, 'plan-rpm')).toBe('30');
    expect(await text(page, 'circuit-state')).toMatch(/^(closed|half-open|open)$/);

    const stamp = await text(page, 'last-update');
    await changed(() => text(page, 'last-update'), stamp, 'last-update');

    const batches = await text(page, 'batches-count');
    const laterBatches = await changed(() => text(page, 'batches-count'), batches, 'batches-count');
    expect(Number(laterBatches.replace(/,/g, ''))).toBeGreaterThan(Number(batches.replace(/,/g, '')));
  }, 120_000);

  it('shows the instances panel: one instance holding all 64 partitions, its requests as a share of the plan', async () => {
    const panel = page.getByTestId('cluster-panel');
    await panel.waitFor({ state: 'visible', timeout: 30_000 });
    expect(await text(page, 'cluster-summary')).toBe('1 instance · 64 of 64 partitions');
    const rows = page.locator('[data-testid="cluster-row"]');
    expect(await rows.count()).toBe(1);
    const res = await fetch(`${demo.apiUrl}/api/v1/insight/cluster`);
    const { instanceId } = (await res.json()) as { instanceId: string };
    expect(await rows.first().getAttribute('data-instance')).toBe(instanceId);
    expect(await text(page, 'cluster-self')).toBe('this instance');
    expect(await text(page, 'cluster-partitions')).toBe('64');
    expect(await text(page, 'cluster-ranges')).toBe('0–63');
    // the demo sends on the keyless plan (30/min): its share of the plan becomes visible
    await expect
      .poll(async () => Number((await attr(page, 'cluster-plan-share', 'data-value')) || 0), SETTLE)
      .toBeGreaterThan(0);
    const rpm = Number(await text(page, 'cluster-rpm'));
    expect(await text(page, 'cluster-plan-share')).toMatch(/^\d+(\.\d)? %$/);
    expect(Number(await attr(page, 'cluster-plan-share', 'data-value'))).toBeLessThanOrEqual(1);
    expect(await text(page, 'cluster-budget')).toMatch(/^\d+ \/ 30 requests\/min \(/);
    expect(rpm).toBeGreaterThan(0);
    expect(await text(page, 'cluster-share')).toBe('100.0 %');
    expect(await attr(page, 'cluster-share', 'data-value')).toBe('1');
    expect(await text(page, 'cluster-split')).toBe('split by partition count');
    await page.getByTestId('cluster-panel').screenshot({ path: 'test-results/instances.png' });
  }, 200_000);

  it('once the policy settles: different intervals per tier, staleness above zero, optimal J below tiered and round-robin', async () => {
    const intervals = () =>
      page.locator('[data-testid="tier-table"] tbody tr td:nth-child(4)').allTextContents();
    await expect.poll(async () => new Set(await intervals()).size, SETTLE).toBeGreaterThanOrEqual(3);
    await expect
      .poll(async () => Number((await attr(page, 'staleness', 'data-value')) || 0), SETTLE)
      .toBeGreaterThan(0);
    expect(await text(page, 'staleness')).toMatch(/%$/);
    expect(await text(page, 'staleness')).not.toMatch(/e-/);

    const j = async (k: string) => Number((await attr(page, `buys-${k}`, 'data-value')) || NaN);
    await expect.poll(() => j('optimal'), SETTLE).toBeGreaterThan(0);
    const [optimal, tiered, uniform] = [await j('optimal'), await j('tiered'), await j('uniform')];
    expect(optimal).toBeLessThan(tiered);
    expect(optimal).toBeLessThan(uniform);
    expect(await text(page, 'buys-ratio')).toMatch(/less stale than tiered/);
    await expect
      .poll(() => page.locator('[data-testid="plans-table"] tbody tr').count(), SETTLE)
      .toBeGreaterThanOrEqual(1);
  }, 400_000);

  it('draws data points in every chart', async () => {
    for (const id of ['freshness-chart', 'buys-chart', 'tier-rates-chart', 'map-weight', 'map-sigma']) {
      await expect.poll(async () => Number(await attr(page, id, 'data-points')), SETTLE).toBeGreaterThan(1);
    }
    // uPlot drew on its canvas: count painted pixels (a string expression: no DOM types here).
    const painted = await page.evaluate<number>(`(() => {
      const c = document.querySelector('[data-testid="map-sigma"] canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let colored = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) colored++;
      return colored;
    })()`);
    expect(painted).toBeGreaterThan(100);
    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });
  }, 200_000);

  it('opens a token view with its price history, refresh moments and plan', async () => {
    const rows = page.locator('[data-testid="token-table"] tbody tr');
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBeGreaterThan(1);
    // the most recently refreshed token has its start-up price and at least one refresh since
    await page.getByTestId('token-sort').selectOption('last_refresh_success:desc');
    await expect
      .poll(async () => (await rows.first().locator('td').nth(5).textContent())?.trim(), SETTLE)
      .toMatch(/^\d+s ago$/);
    await rows.first().click();
    await page.getByTestId('token-view').waitFor({ state: 'visible', timeout: 10_000 });
    const shown = async () =>
      Number(((await text(page, 'tv-status')).match(/^([\d,]+) price/)?.[1] ?? '0').replace(/,/g, ''));
    await expect.poll(shown, SETTLE).toBeGreaterThanOrEqual(2);
    await expect
      .poll(async () => Number(await attr(page, 'tv-chart', 'data-points')), SETTLE)
      .toBeGreaterThanOrEqual(4);
    expect(await text(page, 'tv-tier')).toMatch(/^(CRITICAL|HIGH|MEDIUM|LOW|MINIMAL|INACTIVE)$/);
    expect(await text(page, 'tv-interval')).toMatch(/^\d+[smhd]( \d+[smh])?$/);
    expect(await text(page, 'tv-sigma')).toMatch(/%\/day$/);
    await page.getByTestId('token-view').screenshot({ path: 'test-results/token-view.png' });
  }, 200_000);

  it('refreshes a token now from its view (loopback demo: no admin token needed)', async () => {
    await page.getByTestId('tv-refresh').click();
    await expect
      .poll(() => text(page, 'tv-admin-result'), { timeout: 60_000 })
      .toMatch(/^(refreshed|not refreshed)/);
  }, 120_000);

  it('keeps the charts history across a reload', async () => {
    const res = await fetch(`${demo.apiUrl}/api/v1/insight/history`);
    const before = ((await res.json()) as { samples: unknown[] }).samples.length;
    expect(before).toBeGreaterThan(2);
    await page.reload({ waitUntil: 'load' });
    // the page loads the server's history before it opens the WebSocket
    await page.locator('[data-testid="connection-state"][data-state="open"]').waitFor({ timeout: 30_000 });
    expect(Number(await attr(page, 'freshness-chart', 'data-points'))).toBeGreaterThanOrEqual(before);
  }, 120_000);

  it('loads the token table, filters it by search, and breaks no CSP rule', async () => {
    await page.getByTestId('token-sort').selectOption('rank:asc');
    const rows = page.locator('[data-testid="token-table"] tbody tr');
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBeGreaterThan(1);
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
        { timeout: 30_000 },
      )
      .toBe(true);
    expect(problems.filter((p) => /Content Security Policy|Refused to/i.test(p))).toEqual([]);
    expect(problems).toEqual([]);
  }, 120_000);
});
