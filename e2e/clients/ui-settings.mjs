// Drives Faultline's project, settings, token and usage pages in headless
// Chromium as a new user would: logs in, creates a project with the form,
// copies its DSN with the copy button, sends the test event and finds its
// issue in the list, creates an API token (shown once), checks that it
// works, revokes it, and visits the organization's settings and usage.
// Every page gets axe-core (no serious or critical violation) and
// screenshots, light and dark, at 1280×800 and 390 px. Configured by the
// environment (see ui_settings_test.go); prints a one-line JSON summary.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, request } from 'playwright-core';
import { finish, run } from './common.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(k + ' is required'); return v; };

run(async () => {
  const base = env('FAULTLINE_URL');
  const org = env('FAULTLINE_ORG');
  const shots = env('FAULTLINE_SCREENSHOTS');
  const origin = new URL(base).origin;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const failures = [];
  const check = (ok, msg) => { if (!ok) failures.push(msg); };
  const out = { client: 'ui-settings', consoleErrors: [], axe: {}, shots: 0 };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && !(m.location()?.url || '').endsWith('/favicon.ico')) out.consoleErrors.push(`${m.text()} (${m.location()?.url})`);
    });
    page.on('pageerror', (err) => out.consoleErrors.push('uncaught: ' + err.message));

    // axe-core, then screenshots light and dark at both widths; the page
    // must not scroll sideways at 390 px.
    const inspect = async (name) => {
      await page.evaluate(AXE);
      const axe = await page.evaluate(async () => {
        const res = await window.axe.run(document, { resultTypes: ['violations'] });
        return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
      });
      out.axe[name] = axe;
      if (axe.length) failures.push(`${name}: axe: ${axe.join('; ')}`);
      for (const theme of ['light', 'dark']) {
        await page.emulateMedia({ colorScheme: theme });
        await page.setViewportSize({ width: 1280, height: 800 });
        await page.screenshot({ path: `${shots}/${name}-1280-${theme}.png` });
        await page.setViewportSize({ width: 390, height: 844 });
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        check(wide <= 390, `${name} at 390 px is ${wide} px wide`);
        await page.screenshot({ path: `${shots}/${name}-390-${theme}.png`, fullPage: true });
        out.shots += 2;
      }
      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 1280, height: 800 });
    };

    await page.goto(`${base}/login/?next=${encodeURIComponent('/organizations/' + org + '/')}`);
    await page.getByLabel('E-mail').fill(env('UI_EMAIL'));
    await page.getByLabel('Password').fill(env('UI_PASSWORD'));
    await Promise.all([page.waitForURL((u) => u.pathname === `/organizations/${org}/`), page.getByRole('button', { name: 'Log in' }).click()]);

    // Create a project with the form.
    await page.getByRole('link', { name: 'Create project' }).click();
    await page.waitForURL((u) => u.pathname === `/organizations/${org}/projects/`);
    await inspect('project-new');
    await page.getByLabel('Name').fill('Checkout');
    await page.getByLabel('Platform').selectOption('node');
    await Promise.all([page.waitForURL((u) => u.pathname === `/organizations/${org}/projects/checkout/`),
      page.getByRole('button', { name: 'Create project' }).click()]);
    check(await page.getByText('No events yet').count() === 1, 'a new project: no empty state');
    check(await page.locator('#setup-node[open]').count() === 1, 'a Node project: its snippet is not open first');

    // Copy the DSN with its button.
    const dsn = (await page.locator('#dsn').textContent()).trim();
    out.dsn = dsn;
    await page.getByRole('button', { name: 'Copy the DSN' }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    check(copied === dsn, `the copy button copied ${JSON.stringify(copied)}, not the DSN ${dsn}`);
    const snippet = await page.locator('#setup-node pre').textContent();
    check(snippet.includes(dsn), 'the Node snippet does not carry the DSN');
    await inspect('project');

    // Send the test event; its issue appears in the project's issues.
    await Promise.all([page.waitForURL((u) => u.search.includes('done=test-event')),
      page.getByRole('button', { name: 'Send a test event' }).click()]);
    check(await page.getByRole('status').filter({ hasText: 'A test event was sent' }).count() === 1, 'no notice after the test event');
    const issues = await page.getByRole('link', { name: 'Issues', exact: true }).first().getAttribute('href');
    let found = false;
    for (let i = 0; i < 150 && !found; i++) {
      await page.goto(base + issues);
      found = await page.locator('a.title', { hasText: 'This is a test event' }).count() > 0;
      if (!found) await page.waitForTimeout(200);
    }
    check(found, 'the test event never showed in the issue list');
    if (found) {
      await page.locator('a.title', { hasText: 'This is a test event' }).first().click();
      await page.waitForURL((u) => /\/issues\/\d+\/$/.test(u.pathname));
      out.testIssue = new URL(page.url()).pathname;
    }

    // The project's settings.
    await page.goto(`${base}/settings/${org}/projects/checkout/`);
    await inspect('project-settings');

    // An API token: shown once, works, revoked.
    await page.goto(`${base}/settings/account/api/auth-tokens/`);
    await page.getByLabel('Name').fill('browser');
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Create token' }).click()]);
    const token = ((await page.locator('#new-token').textContent()) || '').trim();
    check(token.startsWith('sntryu_'), 'no new token shown: ' + token);
    out.token = token;
    // A client of its own, without the browser's cookies (and without a
    // console error for the expected refusal).
    const api = await request.newContext();
    const use = async (t) => (await api.get(`${base}/api/0/organizations/${org}/`, { headers: { Authorization: 'Bearer ' + t } })).status();
    out.tokenBefore = await use(token);
    check(out.tokenBefore === 200, 'the new token: ' + out.tokenBefore);
    await inspect('api-tokens');
    await page.goto(`${base}/settings/account/api/auth-tokens/`);
    check(!(await page.content()).includes(token), 'the token is shown again');
    await Promise.all([page.waitForURL((u) => u.search.includes('done=revoked')),
      page.getByRole('button', { name: 'Revoke the token browser' }).click()]);
    out.tokenAfter = await use(token);
    check(out.tokenAfter === 401, 'the revoked token: ' + out.tokenAfter);

    // The organization's settings and usage.
    for (const [name, path] of [['members', `/settings/${org}/members/`], ['teams', `/settings/${org}/teams/`],
      ['org-tokens', `/settings/${org}/auth-tokens/`], ['usage', `/organizations/${org}/stats/`]]) {
      await page.goto(base + path);
      await inspect(name);
    }

    if (out.consoleErrors.length) failures.push('console errors: ' + out.consoleErrors.join(' | '));
    finish(out, failures);
  } finally {
    await browser.close();
  }
});
