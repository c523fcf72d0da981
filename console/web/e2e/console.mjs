// The console's end-to-end browser check, started by the Go test
// TestConsoleInBrowser (cmd/voicedock), which runs the real server, places
// a call with sipp and transfers it. This script drives Debian's Chromium
// through playwright-core (never a downloaded browser) and reports what the
// page shows, one line at a time on stdout:
//
//   ready                 signed in, the event stream is live
//   call <id>             a live call is on the board
//   failed                the call's first transfer shows as failed (busy)
//   ringing <path>        a picture taken while the second transfer rings
//   seen <json>           the statuses each transfer showed, by id
//   stats chart|missing   the statistics panel: a chart, or no such tool
//   screenshot <path>     the final picture
//
// The Go side answers nothing: it acts on these lines (it starts the
// first transfer after "call", the second after "failed"). Any failure exits non-zero with the reason on
// stderr and a screenshot beside the final one.
//
// Environment: CONSOLE_URL, CONSOLE_KEY, SCREENSHOT (a .png path),
// CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const url = must('CONSOLE_URL');
const key = must('CONSOLE_KEY');
const screenshot = must('SCREENSHOT');
const timeout = 40_000;

function must(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return v;
}

function say(line) {
  process.stdout.write(line + '\n');
}

function check(ok, what) {
  if (!ok) throw new Error(what);
}

mkdirSync(dirname(screenshot), { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'voicedock-console-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // This machine has no network but loopback: Chromium's background
  // services would fail at every start.
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1366, height: 768 },
  timeout,
});
const problems = [];
let page;
try {
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(timeout);
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/401|Unauthorized/.test(msg.text())) problems.push(`console error: ${msg.text()}`);
  });

  await page.goto(url);
  // The server has keys: the page asks for one, and refuses a wrong one.
  await page.locator('#api-key').fill('not-the-key-0123456789');
  await page.getByRole('button', { name: 'Open console' }).click();
  await page.getByTestId('key-error').waitFor();
  await page.locator('#api-key').fill(key);
  await page.getByRole('button', { name: 'Open console' }).click();
  await page.locator('[data-testid="connection"][data-state="live"]').waitFor();
  const storage = await page.evaluate(() => ({
    session: sessionStorage.getItem('voicedock.apiKey'),
    local: localStorage.length,
  }));
  check(storage.session === key, 'the key is not in sessionStorage');
  check(storage.local === 0, 'something was written to localStorage');

  // Note every status each transfer shows, as the page changes.
  await page.evaluate(() => {
    const seen = {};
    window.__transferSeen = seen;
    const note = () => {
      for (const el of document.querySelectorAll('.call .transfer[data-transfer-id]')) {
        const list = (seen[el.getAttribute('data-transfer-id')] ??= []);
        const s = el.getAttribute('data-status');
        if (list[list.length - 1] !== s) list.push(s);
      }
    };
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
    note();
  });
  say('ready');

  const card = page.locator('li.call[data-status="in-progress"]').first();
  await card.waitFor();
  const callID = await card.getAttribute('data-call-id');
  say(`call ${callID}`);

  const mine = page.locator(`li.call[data-call-id="${callID}"]`);
  // The first transfer meets a busy destination: the caller stays.
  await mine.locator('.transfer[data-status="failed"]').waitFor();
  await mine.locator('.step[data-step="failed"][data-state="bad"]').waitFor();
  await page.locator(`li.call[data-call-id="${callID}"][data-status="in-progress"]`).waitFor();
  await page.locator('.recent tr[data-status="failed"]').first().waitFor();
  say('failed');

  // While the destination rings (6 s), the picture of a transfer under way.
  await mine.locator('.transfer[data-status="ringing"] .step[data-step="ringing"][data-state="current"]').waitFor();
  const ringing = screenshot.replace(/\.png$/, '') + '-ringing.png';
  await page.screenshot({ path: ringing });
  say(`ringing ${ringing}`);

  await mine.locator('.transfer[data-status="completed"]').waitFor();
  await mine.locator('.step[data-step="requested"][data-state="done"]').waitFor();
  await mine.locator('.step[data-step="ringing"][data-state="done"]').waitFor();
  await mine.locator('.step[data-step="completed"][data-state="ok"]').waitFor();
  await page.locator(`li.call[data-call-id="${callID}"][data-status="transferred"]`).waitFor();
  const seen = await page.evaluate(() => window.__transferSeen);
  say(`seen ${JSON.stringify(seen)}`);

  await page.locator('.recent tr[data-status="completed"]').first().waitFor();
  await page.locator('.trunk[data-trunk-id]').first().waitFor();
  // Statistics: a chart when the server has transfer_stats, else the
  // plain note that it has not; an error of the tool fails the test.
  await page.locator('[data-testid="stats"], [data-testid="stats-unavailable"]').first().waitFor();
  const missing = page.locator('[data-testid="stats-unavailable"]');
  if (await missing.count()) {
    check((await missing.getAttribute('data-reason')) === 'missing', `statistics failed: ${await missing.textContent()}`);
    say('stats missing');
  } else {
    await page.locator('[data-testid="stats"] [data-bar]').first().waitFor();
    // The day of the test holds the two transfers, once the statistics
    // were read again after the second one finished.
    await page.locator('[data-testid="stats"] [data-bar] rect.ok').first().waitFor();
    await page.locator('[data-testid="stats"] [data-bar] rect.bad').first().waitFor();
    say('stats chart');
  }

  // Nothing may stick out sideways on a laptop screen.
  const overflow = await page.evaluate(() => {
    const out = [];
    if (document.documentElement.scrollWidth > window.innerWidth) out.push(`page ${document.documentElement.scrollWidth}px wide`);
    for (const el of document.querySelectorAll('.card, .call, .trunk, .transfer')) {
      if (el.scrollWidth > el.clientWidth + 1) out.push(`${el.className} ${el.scrollWidth}>${el.clientWidth}`);
    }
    return out;
  });
  check(overflow.length === 0, `layout overflow: ${overflow.join('; ')}`);
  check(problems.length === 0, problems.join('\n'));

  await page.screenshot({ path: screenshot });
  say(`screenshot ${screenshot}`);
} catch (err) {
  console.error(err instanceof Error ? err.stack ?? err.message : String(err));
  if (problems.length) console.error(problems.join('\n'));
  if (page) {
    const failed = screenshot.replace(/\.png$/, '') + '-failed.png';
    await page.screenshot({ path: failed }).catch(() => undefined);
    console.error(`failure screenshot: ${failed}`);
  }
  process.exitCode = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
