// The live page (`troupe dashboard`) in headless Chromium, as someone
// watching it would use it (tests/integration/dashboard_test.cpp):
//
//   node dashboard_check.js URL SCREENSHOT.png [HOSTILE_SAGA_ID]
//
// Waits until the saga graph shows an edge with a non-zero rate, opens the
// trace of a hostile saga from the dead letters when one is named (its id
// and event contents must show as text, and none of it may run), clicks a
// booking in the recent sagas and waits for its trace, then saves a
// screenshot of the whole page. Prints one JSON line; exits 0 when every
// step passed, 1 otherwise (with the reason on stderr).
import { chromium } from 'playwright-core';

const [url, screenshot, hostile] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node dashboard_check.js URL SCREENSHOT.png [HOSTILE_SAGA_ID]');
  process.exit(2);
}
const chromiumPath = process.env.TROUPE_CHROMIUM || '/usr/bin/chromium';
const timeout = 60000;

const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--headless=new'] });
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    // A refused asset or inline code would show here first.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push('console: ' + m.text());
  });
  await page.goto(url, { waitUntil: 'load' });

  // The graph, with a rule carrying events.
  const rate = await page.waitForFunction(() => {
    const moving = [...document.querySelectorAll('#graph g.edge[data-rate]')]
      .filter((g) => parseFloat(g.dataset.rate) > 0);
    return moving.length ? { rule: moving[0].dataset.rule, rate: parseFloat(moving[0].dataset.rate), edges: moving.length } : null;
  }, null, { timeout, polling: 250 }).then((h) => h.jsonValue());

  const result = { rate };
  if (hostile) {
    // The hostile saga's dead letter, its saga clicked: its id and event
    // type are in the page as text, and nothing of them ran.
    await page.waitForFunction((id) => [...document.querySelectorAll('#dlq-rows td')].some((td) => td.textContent === id),
                               hostile, { timeout, polling: 250 });
    await page.evaluate((id) => [...document.querySelectorAll('#dlq-rows td')].find((td) => td.textContent === id).click(), hostile);
    const types = await page.waitForFunction((id) => {
      const title = document.getElementById('trace-title').textContent;
      const events = [...document.querySelectorAll('#trace-body .trace-event')].map((e) => e.dataset.type);
      return title.includes(id) && events.length >= 2 ? events : null;
    }, hostile, { timeout, polling: 250 }).then((h) => h.jsonValue());
    const injected = await page.evaluate(() => [window.__pwned, document.querySelectorAll('img, iframe, object').length,
                                                [...document.querySelectorAll('script')].length]);
    if (injected[0] !== undefined || injected[1] !== 0 || injected[2] !== 1)
      throw new Error('hostile contents ran or made elements: ' + JSON.stringify(injected));
    result.hostile = { types };
  }

  // A booking in the recent sagas, clicked: its trace.
  // Found and clicked in one step: the table is drawn again every poll.
  const clicked = await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#sagas-rows tr.saga')];
    const row = rows.find((r) => r.textContent.includes('Booking') || r.textContent.includes('Ticket')
                                 || r.textContent.includes('Payment') || r.textContent.includes('Seat'));
    if (!row) return null;
    row.click();
    return row.dataset.id;
  }, null, { timeout, polling: 250 }).then((h) => h.jsonValue());
  const events = await page.waitForFunction((id) => {
    const title = document.getElementById('trace-title').textContent;
    const rows = [...document.querySelectorAll('#trace-body .trace-event')].map((e) => e.dataset.type);
    return title.startsWith('saga ' + id + ':') && rows.includes('BookingRequested') && rows.length >= 3 ? rows : null;
  }, clicked, { timeout, polling: 250 }).then((h) => h.jsonValue());
  result.trace = { saga: clicked, events };

  // Nodes and dead letters are drawn too.
  result.nodes = await page.$$eval('#nodes-rows tr', (rows) => rows.length);
  result.letters = await page.$$eval('#dlq-rows button.redrive', (b) => b.length);
  await page.waitForTimeout(300);  // the last poll's drawing settled
  await page.screenshot({ path: screenshot, fullPage: true });
  if (problems.length) throw new Error(problems.join('; '));
  console.log(JSON.stringify(Object.assign({ ok: true }, result)));
} catch (e) {
  console.error('dashboard_check: ' + e.message + (problems.length ? '\n' + problems.join('\n') : ''));
  console.log(JSON.stringify({ ok: false, error: e.message, problems }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
