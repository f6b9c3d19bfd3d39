import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { startTestGateway, type TestGateway } from './helpers.js';

/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core): the page is
 * open while known traffic goes through the gateway, and the numbers it shows must become
 * the traffic's: 7 calls, 3 exact hits, 2 errors of which 1 budget refusal, the cost the
 * answers' `x-sluice-cost-usd` headers add up to, per-user counts, a feedback score.
 */

const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
const ADMIN = 'dashboard-admin-key-0123456789';
/** What `usd()` in dashboard.js prints. */
const usd = (n: number) => (n === 0 ? '$0' : Math.abs(n) >= 1 ? `$${n.toFixed(2)}` : `$${n.toFixed(6)}`);

const chromiumMissing = existsSync(CHROMIUM)
  ? undefined
  : `BROWSER TEST SKIPPED: no chromium at ${CHROMIUM}. Install it with \`apt-get install -y chromium\` (.ci/run does) or set SLUICE_CHROMIUM.`;
if (chromiumMissing) console.error(`\n!!! ${chromiumMissing}\n`);

/** The page refreshes every 5 s: poll what an element shows until it passes (or 15 s go by). */
async function waitForText(page: Page, testId: string, ok: (text: string) => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = '';
  while (Date.now() < deadline) {
    last = (await page.getByTestId(testId).textContent()) ?? '';
    if (ok(last)) return;
    await sleep(100);
  }
  assert.fail(`${testId} still shows '${last}'`);
}

describe('dashboard in chromium', { skip: chromiumMissing }, () => {
  let gw: TestGateway;
  let browser: BrowserContext;
  let page: Page;
  let profile: string;
  const requestedUrls: string[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    gw = await startTestGateway(
      { cost: { budgets: { users: { alice: { dailyUsd: 1 }, carol: { dailyUsd: 0 } } } } },
      {},
      { SLUICE_ADMIN_KEY: ADMIN },
    );
    profile = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      chromiumSandbox: false,
      viewport: { width: 1440, height: 900 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('request', (r) => requestedUrls.push(r.url()));
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('response', (r) => {
      // The wrong key's 401 is expected; anything else failing is a broken page.
      if (r.status() >= 400 && r.status() !== 401) pageErrors.push(`HTTP ${r.status()} for ${r.url()}`);
    });
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().includes('status of 401'))
        pageErrors.push(`console: ${m.text()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await gw?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('asks for the admin key, refuses a wrong one, and never puts the key in a URL', async () => {
    await page.goto(`${gw.url}/dashboard`);
    await page.getByTestId('key-form').waitFor({ state: 'visible' });
    await page.getByTestId('key-input').fill('wrong-key');
    await page.getByTestId('key-submit').click();
    await page.getByText('That key was refused.').waitFor();
    await page.getByTestId('key-input').fill(ADMIN);
    await page.getByTestId('key-submit').click();
    await page.locator('#main').waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('total-requests').textContent(), '0');
    for (const url of requestedUrls) assert.ok(!url.includes(ADMIN), `key in ${url}`);
  });

  it('shows the traffic sent while it is open, then a feedback score', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'unused', maxRetries: 0 });
    let costSum = 0;
    const ask = async (user: string, prompt: string, headers: Record<string, string> = {}) => {
      const body = {
        model: 'gpt-4o-mini',
        temperature: 0,
        messages: [{ role: 'user' as const, content: prompt }],
      };
      try {
        const { response } = await client.chat.completions
          .create(body, { headers: { 'x-sluice-user': user, ...headers } })
          .withResponse();
        costSum += Number(response.headers.get('x-sluice-cost-usd'));
        return {
          ok: true,
          id: response.headers.get('x-request-id') ?? '',
          cache: response.headers.get('x-sluice-cache'),
        };
      } catch (e) {
        assert.ok(e instanceof OpenAI.APIError, String(e));
        return { ok: false, status: e.status, id: '', cache: null };
      }
    };
    const first = await ask('alice', 'what is a sluice gate?');
    const hits = [await ask('alice', 'what is a sluice gate?'), await ask('alice', 'what is a sluice gate?')];
    await ask('bob', 'how do canal locks work?');
    hits.push(await ask('bob', 'how do canal locks work?'));
    const failed = await ask('bob', 'fail this one', { 'x-mock-fault': '400' });
    const refused = await ask('carol', 'over budget');
    assert.ok(first.ok);
    assert.deepEqual(
      hits.map((h) => h.cache),
      ['exact', 'exact', 'exact'],
    );
    assert.equal(failed.status, 400);
    assert.equal(refused.status, 429);
    assert.ok(costSum > 0, 'gpt-4o-mini is priced');

    // The page polls every 5 s: wait for it to catch up with the 7 calls.
    await waitForText(page, 'total-requests', (t) => t === '7');
    const text = (id: string) => page.getByTestId(id).textContent();
    assert.equal(await text('hits-exact'), '3');
    assert.equal(await text('hits-semantic'), '0');
    assert.equal(await text('hit-rate'), `${((3 / 7) * 100).toFixed(1)}%`);
    assert.equal(await text('hit-counts'), '3 of 7');
    assert.equal(await text('errors'), '2');
    assert.equal(await text('refusals'), '1');
    assert.equal(await text('cost'), usd(costSum));
    const shownCost = Number(await page.getByTestId('cost').getAttribute('data-value'));
    assert.ok(Math.abs(shownCost - costSum) < 1e-9, `${shownCost} vs ${costSum}`);
    assert.ok(Number(await page.getByTestId('cost-avoided').getAttribute('data-value')) > 0);

    const users = await page.getByTestId('top-users').locator('tbody tr').allTextContents();
    const row = (name: string) => users.find((u) => u.startsWith(name)) ?? '';
    assert.match(row('alice'), /^alice3\$/, 'alice: 3 calls');
    assert.match(row('alice'), /of \$1\.00$/, "alice's daily budget of $1");
    assert.match(row('bob'), /^bob3\$/, 'bob: 3 calls');
    assert.match(row('carol'), /^carol1\$0100\.0% of \$0$/, 'carol: refused by a $0 budget, nothing spent');
    const refusals = await page.getByTestId('refusals-by-code').locator('tbody tr').allTextContents();
    assert.deepEqual(refusals, ['budget_exceeded1']);

    const fb = await fetch(`${gw.url}/v1/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sluice-user': 'alice' },
      body: JSON.stringify({
        request_id: first.id,
        score: 0.75,
        name: 'helpfulness',
        comment: 'clear answer',
      }),
    });
    assert.equal(fb.status, 200);
    await waitForText(page, 'feedback-count', (t) => t === '1 score');
    assert.equal(await text('feedback-mean'), '0.75');
    const latest = await page.getByTestId('feedback-latest').locator('tbody tr').first().textContent();
    assert.ok(latest?.includes('clear answer') && latest.includes(first.id), latest ?? '');

    // The range picker reloads at once; all of the traffic is within the last 15 minutes.
    const reloaded = page.waitForResponse((r) => r.url().includes('/v1/stats/series?range=15m'));
    await page.getByTestId('range').selectOption('15m');
    assert.equal((await reloaded).status(), 200);
    await waitForText(page, 'status', (t) => t.startsWith('updated'));
    assert.equal(await text('total-requests'), '7');

    const shot = join(tmpdir(), `sluice-dashboard-${process.pid}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`dashboard screenshot: ${shot}`);
    assert.deepEqual(pageErrors, [], 'no script errors or CSP violations');
  });
});
