// The console's live conversation, checked in a browser: started by the Go
// test TestConsoleShowsTheConversation (cmd/voicedock), which runs the
// real server and places a call with sipp whose caller speaks and presses
// 5 (RFC 4733) and 7 (SIP INFO). This script drives Debian's Chromium
// through playwright-core and reports, one line at a time on stdout:
//
//   ready                 signed in, the event stream is live
//   heard <json>          the call card's conversation: the caller's words
//                         and the two keys, as the page shows them
//   screenshot <path>     the picture
//
// Any failure exits non-zero with the reason on stderr.
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
const timeout = 90_000;

function must(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return v;
}

mkdirSync(dirname(screenshot), { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'voicedock-console-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1366, height: 768 },
  timeout,
});
const problems = [];
let page;
try {
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(timeout);
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  await page.goto(url);
  await page.locator('#api-key').fill(key);
  await page.getByRole('button', { name: 'Open console' }).click();
  await page.locator('[data-testid="connection"][data-state="live"]').waitFor();
  process.stdout.write('ready\n');

  const card = page.locator('li.call').first();
  const conversation = card.locator('ol.conversation');
  await conversation.locator('li[data-role="user"]').first().waitFor();
  await conversation.locator('li[data-role="digit"]').nth(1).waitFor();
  const heard = await conversation.locator('li').evaluateAll((els) =>
    els.map((el) => `${el.getAttribute('data-role')}: ${el.querySelector('.words')?.textContent ?? ''}`),
  );
  process.stdout.write(`heard ${JSON.stringify(heard)}\n`);
  if (problems.length) throw new Error(problems.join('\n'));
  await page.screenshot({ path: screenshot });
  process.stdout.write(`screenshot ${screenshot}\n`);
} catch (err) {
  console.error(err instanceof Error ? err.stack ?? err.message : String(err));
  if (page) await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-failed.png' }).catch(() => undefined);
  process.exitCode = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
