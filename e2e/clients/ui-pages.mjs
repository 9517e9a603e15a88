// Tours every main page of Faultline's web UI in headless Chromium, as a
// new user meets them: the first-admin setup form, then (logged in) the
// organization page, the issue lists of the organization and of a project,
// an issue, its events, the releases and a release, the alert rules, a new
// rule and an existing one, the project's WebHooks settings, the 404 page;
// then, logged out, the login page and the 404 page again. On the way,
// it ignores every issue matching a search until 5 more events and
// deletes one through the confirmation page (FAULTLINE_BULK names the
// search's issues; the Go test checks the effects). Each page gets
// axe-core (a serious or critical violation fails the run) and screenshots
// light and dark at 1280×800 and 390 px (full page), and must not scroll
// sideways at 390 px. The pages ui-settings.mjs inspects the same way (the
// project pages, members, teams, tokens, usage) are not repeated here.
//
// Environment: FAULTLINE_URL, FAULTLINE_SETUP_CODE, FAULTLINE_ORG,
// FAULTLINE_PROJECT (slug), FAULTLINE_PROJECT_ID, FAULTLINE_ISSUE (id),
// FAULTLINE_RELEASE (version), FAULTLINE_SCREENSHOTS (a directory).
// Prints one JSON line: {ok, failures, axe, shots, pages}.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { finish, run } from './common.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(k + ' is required'); return v; };

run(async () => {
  const base = env('FAULTLINE_URL');
  const org = env('FAULTLINE_ORG');
  const project = env('FAULTLINE_PROJECT');
  const shots = env('FAULTLINE_SCREENSHOTS');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const failures = [];
  const check = (ok, msg) => { if (!ok) failures.push(msg); return ok; };
  const out = { client: 'ui-pages', consoleErrors: [], axe: {}, shots: 0, pages: [] };
  // The 404 pages answer 404 on purpose, and Chromium asks for
  // /favicon.ico (a 404): neither is an error of the page.
  const expected404 = (url) => url.endsWith('/favicon.ico') || url.includes('/no-such-page/');
  const watch = (page) => {
    page.on('console', (m) => {
      if (m.type() === 'error' && !expected404(m.location()?.url || '')) out.consoleErrors.push(`${m.text()} (${m.location()?.url})`);
    });
    page.on('pageerror', (err) => out.consoleErrors.push('uncaught: ' + err.message));
    page.on('dialog', (d) => { failures.push('a dialog opened: ' + d.message()); d.dismiss().catch(() => {}); });
  };
  const inspect = async (page, name) => {
    out.pages.push(name);
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
      await page.screenshot({ path: `${shots}/page-${name}-1280-${theme}.png` });
      await page.setViewportSize({ width: 390, height: 844 });
      const wide = await page.evaluate(() => {
        // The innermost element past the window's right edge, to name it.
        let past = '';
        for (const el of document.querySelectorAll('body *')) {
          if (el.getBoundingClientRect().right > window.innerWidth + 1) past = `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className ? '.' + String(el.className).split(' ')[0] : ''}`;
        }
        return { width: document.documentElement.scrollWidth, past };
      });
      check(wide.width <= 390, `${name} at 390 px is ${wide.width} px wide (${wide.past})`);
      await page.screenshot({ path: `${shots}/page-${name}-390-${theme}.png`, fullPage: true });
      out.shots += 2;
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 800 });
  };
  const visit = async (page, name, path, want = 200) => {
    const resp = await page.goto(base + path);
    if (!check(resp.status() === want, `${name} (${path}): status ${resp.status()}, want ${want}`)) return;
    await inspect(page, name);
  };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    watch(page);

    // The first-admin setup form, then the admin it creates, logged in.
    await page.goto(base + '/setup/');
    await inspect(page, 'setup');
    await page.getByLabel('Setup code').fill(env('FAULTLINE_SETUP_CODE'));
    await page.getByLabel('E-mail').fill('admin@example.com');
    await page.getByLabel('Name', { exact: true }).fill('Ada Admin');
    await page.getByLabel('Password (at least 12 characters)').fill('correct horse battery');
    await page.getByLabel('Password again').fill('correct horse battery');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Create and log in' }).click()]);

    const o = encodeURIComponent(org);
    const p = encodeURIComponent(project);
    const issue = env('FAULTLINE_ISSUE');
    await visit(page, 'org-home', `/organizations/${o}/`);
    await visit(page, 'issues', `/organizations/${o}/issues/`);
    check(await page.locator('tr.issue').count() > 0, 'the issue list is empty');
    // Each row names the release its issue first appeared in, a link to it.
    const rel = env('FAULTLINE_RELEASE');
    const relLink = page.locator('tr.issue a.release').first();
    check(await relLink.textContent().catch(() => '') === rel &&
      decodeURIComponent(await relLink.getAttribute('href')).endsWith('/releases/' + rel + '/'), 'no first-release link in the rows');
    await visit(page, 'project-issues', `/organizations/${o}/issues/?project=${env('FAULTLINE_PROJECT_ID')}`);
    await visit(page, 'issue', `/organizations/${o}/issues/${issue}/`);
    await visit(page, 'issue-events', `/organizations/${o}/issues/${issue}/events/`);
    await visit(page, 'releases', `/organizations/${o}/releases/`);
    await visit(page, 'release', `/organizations/${o}/releases/${encodeURIComponent(env('FAULTLINE_RELEASE'))}/`);
    const rules = `/organizations/${o}/projects/${p}/alerts/rules/`;
    await visit(page, 'rules', rules);
    const ruleHref = await page.locator('.rule h2 a').first().getAttribute('href').catch(() => null);
    await visit(page, 'rule-new', rules + 'new/');
    if (check(!!ruleHref, 'the rules page lists no rule')) await visit(page, 'rule', ruleHref);
    await visit(page, 'webhooks', `/organizations/${o}/projects/${p}/settings/webhooks/`);

    // Bulk actions on the issue list: ignore every issue matching the
    // search until it occurs 5 more times, then delete one of them
    // through the confirmation page.
    const rowIDs = () => page.$$eval('tr.issue', (rs) => rs.map((r) => r.dataset.id));
    const list = `/organizations/${o}/issues/?query=`;
    await page.goto(base + list + encodeURIComponent('is:unresolved bulk job'));
    out.bulkMatched = (await rowIDs()).length;
    check(out.bulkMatched === 3, 'the bulk search lists ' + out.bulkMatched + ' issues');
    await page.locator('#ignore-until summary').click();
    await page.locator('#bulk-ignore-count').fill('5');
    await page.locator('#bulk-all').check();
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Ignore', exact: true }).click()]);
    check((await rowIDs()).length === 0, 'after ignoring every match, the unresolved list still shows ' + (await rowIDs()).length);
    await page.goto(base + list + encodeURIComponent('is:ignored bulk job'));
    const ignored = await rowIDs();
    check(ignored.length === 3, 'ignored: ' + ignored.length);
    out.bulkDeleted = ignored[0];
    await page.locator(`tr.issue[data-id="${ignored[0]}"] input[name=id]`).check();
    await Promise.all([page.waitForNavigation(), page.locator('#bulk-delete').click()]);
    check((await page.locator('h1').innerText()) === 'Delete issues', 'no confirmation page before deleting');
    await inspect(page, 'bulk-delete');
    await page.getByLabel('Yes, delete the selected issues').check();
    await Promise.all([page.waitForNavigation(), page.locator('#confirm-delete').click()]);
    const left = await rowIDs();
    check(left.length === 2 && !left.includes(ignored[0]), 'after deleting one: ' + JSON.stringify(left));

    await visit(page, '404', '/organizations/no-such-page/', 404);
    // The 404 page: a way home, no stack trace.
    check(await page.getByRole('link', { name: 'Back to the start' }).count() > 0, 'the 404 page has no link home');
    check(!/goroutine|\.go:\d+/.test(await page.content()), 'the 404 page shows a stack trace');

    // Logged out: the login page and the 404 page.
    const anon = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const anonPage = await anon.newPage();
    watch(anonPage);
    await visit(anonPage, 'login', '/login/');
    await visit(anonPage, '404-anonymous', '/no-such-page/', 404);

    if (out.consoleErrors.length) failures.push('console errors: ' + out.consoleErrors.join(' | '));
    finish(out, failures);
  } finally {
    await browser.close();
  }
});
