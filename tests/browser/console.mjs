// The console in a real Chromium (playwright-core, Debian's /usr/bin/chromium),
// driven by tests/it/console.rs, which starts `reqflow serve` and the vendor.
// Env: BASE (the admin listener), OPERATE and READ (tokens), RUN_ID (a failed
// run), OUT (where screenshots and signals go). Exits non-zero on a failure.
import { chromium } from 'playwright-core';
import { writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const { BASE, OPERATE, READ, RUN_ID, OUT } = process.env;
mkdirSync(OUT, { recursive: true });
const log = (...a) => console.log('[console.mjs]', ...a);
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  log('ok:', what);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  // A fresh --user-data-dir: launch() makes a new temporary profile itself (and refuses the flag).
});
const external = [];
async function newPage(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...opts });
  const page = await ctx.newPage();
  page.on('request', (r) => { if (!r.url().startsWith(BASE)) external.push(r.url()); });
  page.on('pageerror', (e) => { log('page error:', e.message); external.push(`pageerror: ${e.message}`); });
  return { ctx, page };
}
const shot = (page, name) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });

async function login(page, token) {
  await page.goto(`${BASE}/console/login`);
  await page.getByLabel('API token').fill(token);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${BASE}/console/login` && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Log in' }).click(),
  ]);
  await page.waitForLoadState();
  return resp;
}

try {
  // 1. The page without a session: the login form, 401.
  const { ctx, page } = await newPage();
  const first = await page.goto(`${BASE}/`);
  check(first.status() === 401, `GET / without a session answers 401 (got ${first.status()})`);
  check(await page.getByLabel('API token').isVisible(), 'the login form is shown');
  await shot(page, 'login');

  // 2. A wrong token cannot log in.
  const wrong = await login(page, 'rft_thisIsNotAToken000000000000000000000000000');
  check(wrong.status() === 401, `a wrong token is refused (${wrong.status()})`);
  check(await page.locator('#login-error').isVisible(), 'the refusal is shown');
  check((await ctx.cookies()).length === 0, 'no cookie after a refused login');
  await shot(page, 'login-refused');

  // 3. An operate token: the runs list with the failed run.
  await login(page, OPERATE);
  const cookies = await ctx.cookies();
  const session = cookies.find((c) => c.name === 'reqflow_session');
  check(session && session.httpOnly && session.sameSite === 'Strict' && session.path === '/', 'HttpOnly SameSite=Strict session cookie');
  const row = page.locator(`tr[data-run="${RUN_ID}"]`);
  await row.waitFor();
  check((await row.getAttribute('data-status')) === 'failed', 'the run is listed as failed');
  await page.locator('#runs-table tbody tr').first().waitFor();
  await shot(page, 'runs');

  // 4. Open it, read the error.
  await row.getByRole('link').click();
  await page.locator('#run-error').waitFor();
  const errText = await page.locator('#run-error').innerText();
  check(/422/.test(errText), `the run's error is shown: ${errText.replace(/\s+/g, ' ').slice(0, 160)}`);
  check(await page.locator('.tl .bar').count() >= 3, 'a timeline bar per attempt');
  check(await page.locator('#retry').isVisible(), 'an operate session sees the retry button');
  const versionBefore = await page.locator('#run-version').innerText();
  await shot(page, 'run-failed');

  // 5. A cookie alone is not enough for a state change.
  const noCsrf = await page.evaluate(async (id) => (await fetch(`/api/runs/${id}/retry?version=latest`, { method: 'POST' })).status, RUN_ID);
  check(noCsrf === 403, `a cookie-only POST without the CSRF header is refused (${noCsrf})`);

  // 6. The Rust test fixes the workflow file; serve reloads it.
  writeFileSync(join(OUT, 'need-fix'), '');
  for (let i = 0; !existsSync(join(OUT, 'fixed')); i++) {
    if (i > 600) throw new Error('the workflow was not fixed in time');
    await sleep(50);
  }

  // 7. Retry on the latest version: the answer lists what re-ran; the run succeeds.
  await page.locator('#retry-version').selectOption('latest');
  await page.locator('#retry').click();
  await page.locator('#retry-answer').waitFor();
  const rerun = await page.locator('#rerun').innerText();
  check(rerun.includes('invite') && rerun.includes('table'), `the answer lists the re-run steps: ${rerun}`);
  check((await page.locator('#reused').innerText()).includes('audit'), 'and the reused ones');
  await page.locator('#run-status .s-succeeded').waitFor({ timeout: 20000 });
  check(true, 'the run succeeded after the retry (seen live)');
  const versionAfter = await page.locator('#run-version').innerText();
  check(versionAfter !== versionBefore, `the run moved to the new version (${versionBefore} → ${versionAfter})`);
  await shot(page, 'run');

  // 8. Back to the list: live, it shows the run succeeded without a reload.
  await page.getByRole('link', { name: '← Runs' }).click();
  await page.locator(`tr[data-run="${RUN_ID}"][data-status="succeeded"]`).waitFor();
  check(true, 'the list shows the new status');

  // 9. Events.
  await page.getByRole('link', { name: 'Events' }).click();
  await page.locator('#events-table tbody tr[data-event]').first().waitFor();
  const evLink = page.locator(`#events-table a[href="#/runs/${RUN_ID}"]`);
  check(await evLink.count() >= 1, 'the event links to its run');
  await shot(page, 'events');

  // 10. Narrow and dark.
  await page.setViewportSize({ width: 400, height: 800 });
  await page.goto(`${BASE}/#/runs`);
  await page.locator('#runs-table tbody tr[data-run]').first().waitFor();
  await shot(page, 'runs-400');
  await page.goto(`${BASE}/#/runs/${RUN_ID}`);
  await page.locator('#run-status').waitFor();
  await shot(page, 'run-400');
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${BASE}/#/runs`);
  await page.locator('#runs-table tbody tr[data-run]').first().waitFor();
  await shot(page, 'runs-dark');
  await page.goto(`${BASE}/#/runs/${RUN_ID}`);
  await page.locator('#run-status').waitFor();
  await shot(page, 'run-dark');
  await page.goto(`${BASE}/#/events`);
  await page.locator('#events-table tbody tr[data-event]').first().waitFor();
  await shot(page, 'events-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  // 11. Keyboard: Tab reaches the nav links with a visible focus.
  await page.goto(`${BASE}/#/runs`);
  await page.locator('#runs-table tbody tr[data-run]').first().waitFor();
  await page.locator('.brand').focus();
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => {
    const a = document.activeElement;
    return a ? [a.tagName, a.textContent.trim(), getComputedStyle(a).outlineStyle] : null;
  });
  check(focused && focused[0] === 'A' && focused[1] === 'Runs' && focused[2] !== 'none', `Tab moves through real links, focus visible (${focused})`);

  // 12. Logout: the page and the API answer 401 with the old cookie.
  await Promise.all([page.waitForURL(`${BASE}/console/login`), page.locator('#logout').click()]);
  check(!(await ctx.cookies()).some((c) => c.name === 'reqflow_session'), 'logout clears the cookie');
  await ctx.addCookies([session]);
  const after = await page.goto(`${BASE}/#/runs`);
  check(after.status() === 401, `after logout the page answers 401 with the old cookie (${after.status()})`);
  const api = await ctx.request.get(`${BASE}/api/runs`);
  check(api.status() === 401, `after logout /api/runs answers 401 with the old cookie (${api.status()})`);
  await ctx.close();

  // 13. A read token: no retry button, and the API refuses it anyway.
  const dark = await newPage({ colorScheme: 'dark' });
  const lr = await login(dark.page, READ);
  check(lr.status() === 303, 'a read token logs in');
  await dark.page.goto(`${BASE}/#/runs/${RUN_ID}`);
  await dark.page.locator('#run-status').waitFor();
  check(await dark.page.locator('#retry').count() === 0, 'a read session sees no retry button');
  check(await dark.page.locator('#redeliver').count() === 0, 'nor a redeliver button');
  await shot(dark.page, 'run-read-dark');
  const readPost = await dark.page.evaluate(async (id) => {
    const s = await (await fetch('/console/session')).json();
    const r = await fetch(`/api/runs/${id}/retry?version=latest`, { method: 'POST', headers: { 'X-Reqflow-CSRF': s.csrf } });
    return [s.scope, r.status];
  }, RUN_ID);
  check(readPost[0] === 'read' && readPost[1] === 403, `a read session's POST with the CSRF header gets 403 (${readPost})`);
  await dark.page.context().request.get(`${BASE}/console/login`);
  await dark.page.goto(`${BASE}/console/login`);
  await shot(dark.page, 'login-dark');
  await dark.ctx.close();

  check(external.length === 0, `no request to any other host, no page error (${external.join(', ')})`);
  writeFileSync(join(OUT, 'result.json'), JSON.stringify({ ok: true }));
  log('all checks passed');
} catch (e) {
  console.error('[console.mjs] FAILED:', e && e.stack || e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
