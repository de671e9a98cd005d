// The console's Connections page in a real Chromium (playwright-core, Debian's
// /usr/bin/chromium), driven by tests/it/connections.rs, which starts
// `reqflow serve` and `reqflow sandbox`. Env: BASE (the admin listener),
// OPERATE, READ and ADMIN (tokens), SANDBOX (the sandbox's URL: Workday's consent
// page, the one other host the connect flow visits), OUT (where screenshots go).
// Exits non-zero on a failure.
import { chromium } from 'playwright-core';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const { BASE, OPERATE, READ, ADMIN, SANDBOX, OUT } = process.env;
mkdirSync(OUT, { recursive: true });
const log = (...a) => console.log('[connections.mjs]', ...a);
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  log('ok:', what);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const external = [];
async function newPage(opts = {}) {
  const { allowSandbox, ...ctxOpts } = opts;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...ctxOpts });
  const page = await ctx.newPage();
  page.on('request', (r) => {
    if (!r.url().startsWith(BASE) && !(opts.allowSandbox && r.url().startsWith(SANDBOX))) external.push(r.url());
  });
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

const row = (page, id) => page.locator(`tr[data-connection="${id}"]`);

try {
  // 1. An operate session: the nav link, the table with type and state.
  const { ctx, page } = await newPage();
  check((await login(page, OPERATE)).status() === 303, 'an operate token logs in');
  await page.getByRole('link', { name: 'Connections' }).click();
  await page.locator('#connections-table tbody tr').first().waitFor();
  check(page.url().endsWith('#/connections'), 'the nav link opens #/connections');
  const ok = row(page, 'checks/workable_ok');
  check((await ok.locator('td').nth(2).textContent()) === 'workable', 'the type is shown');
  check((await ok.locator('td').nth(3).textContent()) === 'configured', 'a configured connection says so');
  const unset = row(page, 'checks/unset');
  check((await unset.locator('td').nth(3).textContent()) === 'not configured', 'a connection lacking a secret is not configured');
  check((await unset.locator('td').nth(4).textContent()).includes('NEVER_SET_TOKEN'), 'its state names the missing secret');
  const wd = row(page, 'wd-connected/workday');
  check((await wd.locator('td').nth(4).textContent()).includes('not connected'), 'the Workday OAuth connection is not connected yet');

  // 2. Test: ok, then a failure with its class.
  await ok.getByRole('button', { name: 'Test', exact: true }).click();
  await ok.locator('[data-ok]').waitFor();
  check((await ok.locator('[data-ok]').getAttribute('data-ok')) === 'true', 'the good Workable token checks ok');
  check((await ok.locator('[data-ok]').textContent()).includes('GET /members?limit=1'), 'the answer says what was read');
  const revoked = row(page, 'checks/workable_revoked');
  await revoked.getByRole('button', { name: 'Test', exact: true }).click();
  await revoked.locator('[data-ok]').waitFor();
  check((await revoked.locator('[data-ok]').getAttribute('data-class')) === 'auth', 'a revoked token fails with class auth');
  check((await revoked.locator('[data-ok]').textContent()).includes('failed (auth)'), 'the failure is shown with its class');
  const down = row(page, 'checks/http_down');
  await down.getByRole('button', { name: 'Test', exact: true }).click();
  await down.locator('[data-ok]').waitFor();
  check((await down.locator('[data-ok]').getAttribute('data-class')) === 'network', 'an unreachable host fails with class network');
  check(!(await page.content()).includes(process.env.SECRET_CANARY || '\u0000none'), 'no secret on the page');
  await shot(page, 'connections');
  await ctx.close();

  // 3. A read session sees the list but no Test button; the API refuses its POST.
  const dark = await newPage({ colorScheme: 'dark' });
  check((await login(dark.page, READ)).status() === 303, 'a read token logs in');
  await dark.page.goto(`${BASE}/#/connections`);
  await dark.page.locator('#connections-table tbody tr').first().waitFor();
  check(await dark.page.getByRole('button', { name: 'Test', exact: true }).count() === 0, 'a read session has no Test button');
  const status = await dark.page.evaluate(async () => {
    const s = await (await fetch('/console/session')).json();
    const r = await fetch('/api/connections/checks/workable_ok/test', { method: 'POST', headers: { 'X-Reqflow-CSRF': s.csrf } });
    return r.status;
  });
  check(status === 403, `a read session's test POST gets 403 (${status})`);
  await shot(dark.page, 'connections-read-dark');
  await dark.ctx.close();

  // 4. An admin session connects the Workday OAuth connection: Connect → the tenant's consent
  //    page → Allow → back at /connect/callback → the list shows it connected.
  const adm = await newPage({ allowSandbox: true });
  check((await login(adm.page, ADMIN)).status() === 303, 'an admin token logs in');
  await adm.page.goto(`${BASE}/#/connections`);
  await adm.page.locator('#connections-table tbody tr').first().waitFor();
  check(await row(adm.page, 'checks/workable_ok').getByRole('button', { name: 'Connect', exact: true }).count() === 0,
    'no Connect button for a connection that is not OAuth');
  await row(adm.page, 'wd-connected/workday').getByRole('button', { name: 'Connect', exact: true }).click();
  await adm.page.waitForURL((u) => u.toString().startsWith(`${SANDBOX}/acme/authorize`));
  check(await adm.page.getByRole('button', { name: 'Allow' }).isVisible(), 'the consent page asks to allow access');
  await shot(adm.page, 'connect-consent');
  await adm.page.getByRole('button', { name: 'Allow' }).click();
  await adm.page.waitForURL((u) => u.toString().startsWith(`${BASE}/connect/callback`));
  check((await adm.page.locator('h1').textContent()) === 'Connected', 'the callback says Connected');
  await shot(adm.page, 'connect-callback');
  await adm.page.getByRole('link', { name: 'Back to the connections' }).click();
  await row(adm.page, 'wd-connected/workday').waitFor();
  const state = await row(adm.page, 'wd-connected/workday').locator('td').nth(4).textContent();
  check(state.includes('connected (stored encrypted)'), `the connection is now connected (${state})`);
  const wdRow = row(adm.page, 'wd-connected/workday');
  await wdRow.getByRole('button', { name: 'Test', exact: true }).click();
  await wdRow.locator('[data-ok]').waitFor();
  check((await wdRow.locator('[data-ok]').getAttribute('data-ok')) === 'true', 'the connected Workday connection checks ok');
  await shot(adm.page, 'connections-connected');
  await adm.ctx.close();

  check(external.length === 0, `no request to any other host, no page error (${external.join(', ')})`);
  writeFileSync(join(OUT, 'connections-result.json'), JSON.stringify({ ok: true }));
  log('all checks passed');
} catch (e) {
  console.error('[connections.mjs] FAILED:', e && e.stack || e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
