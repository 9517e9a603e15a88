// Drives Faultline's web UI in headless Chromium as a new user would: the
// first-admin setup, the organization page, the issue list (search, tabs,
// bulk resolve, keyboard shortcuts, paging through every issue) and the
// theme switch, with screenshots at 1280×800 and 390 px, light and dark.
// It watches the console: a Content-Security-Policy violation or a script
// error fails the run. The Go test (ui_test.go) starts the server, sends
// the events and checks through the API what the clicks changed.
//
// Environment: FAULTLINE_URL, FAULTLINE_SETUP_CODE, FAULTLINE_ORG,
// FAULTLINE_PROJECT_ID, FAULTLINE_SCREENSHOTS (a directory).
// Prints one JSON line: {ok, failures, resolvedByBulk, resolvedByKey, ...}.
import { chromium } from 'playwright-core';

const base = process.env.FAULTLINE_URL;
const org = process.env.FAULTLINE_ORG;
const shots = process.env.FAULTLINE_SCREENSHOTS;
const out = { ok: false, failures: [], console: [], timings: {} };
const t0 = Date.now();
const mark = (name) => { out.timings[name] = Date.now() - t0; };
const check = (cond, msg) => { if (!cond) out.failures.push(msg); return cond; };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    // The bad searches' pages answer 400 on purpose.
    if (m.text().includes('status of 400') && /is%3Abogus|timesSeen%3A%3Elots/.test(m.location().url)) return;
    out.console.push(m.type() + ': ' + m.text() + ' at ' + m.location().url);
  });
  page.on('dialog', (d) => { out.failures.push('a dialog opened: ' + d.message()); d.dismiss(); });
  page.on('pageerror', (e) => out.console.push('pageerror: ' + e.message));
  const rowIDs = () => page.$$eval('tr.issue', (rs) => rs.map((r) => r.dataset.id));
  const tab = (name) => page.locator('.tabs a').filter({ hasText: new RegExp('^\\s*' + name + '\\b') });
  const tabCount = async (name) => Number(await tab(name).locator('.count').innerText());

  // First-admin setup: it logs the new admin in.
  let resp = await page.goto(base + '/');
  check(page.url().endsWith('/setup/'), 'a fresh server did not send / to the setup page: ' + page.url());
  check((resp.headers()['content-security-policy'] || '').includes("script-src 'self'"), 'no strict CSP header');
  await page.getByLabel('Setup code').fill(process.env.FAULTLINE_SETUP_CODE);
  await page.getByLabel('E-mail').fill('admin@example.com');
  await page.getByLabel('Name', { exact: true }).fill('Ada Admin');
  await page.getByLabel('Password (at least 12 characters)').fill('correct horse battery');
  await page.getByLabel('Password again').fill('correct horse battery');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Create and log in' }).click()]);

  mark('setup');
  // The organization page: its projects, with counts and sparklines.
  await page.goto(base + '/organizations/' + org + '/');
  const projects = await page.$$eval('.project', (ps) => ps.map((p) => ({
    name: p.querySelector('.project-name a').textContent.trim(),
    unresolved: Number(p.querySelector('.count strong').textContent),
    bars: p.querySelectorAll('svg.spark rect').length,
  })));
  out.projects = projects;
  check(projects.length === 2, 'org page: ' + projects.length + ' projects');
  check(await page.locator('.switcher summary').innerText() !== '', 'no organization switcher');
  await page.screenshot({ path: shots + '/org-home-1280-light.png' });

  // The issue list: unresolved by default, 25 rows.
  await page.goto(base + '/organizations/' + org + '/issues/');
  const unresolved = await tabCount('Unresolved');
  out.unresolvedBefore = unresolved;
  check(await tab('Unresolved').getAttribute('aria-current') === 'page', 'Unresolved is not the current tab');
  check((await rowIDs()).length === 25, 'first page: ' + (await rowIDs()).length + ' rows');
  await page.screenshot({ path: shots + '/issues-1280-light.png' });
  // The attacker's message is shown as text.
  await page.goto(base + '/organizations/' + org + '/issues/?query=' + encodeURIComponent('alert'));
  const xss = await page.$$eval('tr.issue .title', (ts) => ts.map((t) => t.textContent));
  check(xss.length === 1 && xss[0] === process.env.FAULTLINE_XSS, 'the attacker\'s title shows as ' + JSON.stringify(xss));
  check(await page.locator('tr.issue img, tr.issue script').count() === 0, 'the attacker\'s markup became elements');

  // Search with several terms: free text, a status and a release.
  await page.locator('#search').fill('is:unresolved checkout release:2.0');
  await Promise.all([page.waitForNavigation(), page.locator('#search').press('Enter')]);
  const found = await page.$$eval('tr.issue .title', (ts) => ts.map((t) => t.textContent));
  out.searchTitles = found;
  check(found.length === 2 && found.every((t) => t.includes('checkout') && t.includes('2.0')), 'search found ' + JSON.stringify(found));
  // A bad query shows the API's message, not an empty list.
  await page.locator('#search').fill('is:bogus');
  await Promise.all([page.waitForNavigation(), page.locator('#search').press('Enter')]);
  const alert = await page.locator('p.error[role=alert]').innerText().catch(() => '');
  check(alert.includes('bogus'), 'a bad query showed ' + JSON.stringify(alert));
  // Several operators at once, with the environment and the time range
  // picked in the form: they land in the URL, the rows and the tab counts.
  const titles = () => page.$$eval('tr.issue .title', (ts) => ts.map((t) => t.textContent));
  await page.goto(base + '/organizations/' + org + '/issues/');
  check(await page.locator('select[name=environment] option[value=prod]').count() === 1, 'prod is not in the environment picker');
  await page.locator('#search').fill('release:[2.0,3.0] level:info timesSeen:>=2 !has:user.email firstSeen:-1h checkout');
  await page.locator('select[name=environment]').selectOption('prod');
  await page.locator('select[name=statsPeriod]').selectOption('24h');
  await Promise.all([page.waitForNavigation(), page.locator('#search').press('Enter')]);
  const multi = await titles();
  out.multiSearchTitles = multi;
  check(multi.length === 1 && multi[0] === 'checkout failed in 2.0 (card)', 'the multi-operator search found ' + JSON.stringify(multi));
  check(page.url().includes('environment=prod') && page.url().includes('statsPeriod=24h') && page.url().includes('timesSeen'),
    'the search is not in the URL: ' + page.url());
  check(await tabCount('Regressed') === 0 && await tabCount('All') === 1, 'tab counts for the multi-operator search: regressed ' +
    (await tabCount('Regressed')) + ', all ' + (await tabCount('All')));
  await page.locator('#search').fill('!release:2.0 checkout');
  await Promise.all([page.waitForNavigation(), page.locator('#search').press('Enter')]);
  const negated = await titles();
  check(negated.length === 1 && negated[0] === 'checkout failed in 1.0', 'the negated search found ' + JSON.stringify(negated));
  // A bad comparison names the term; the help lists the operators.
  await page.locator('#search').fill('timesSeen:>lots');
  await Promise.all([page.waitForNavigation(), page.locator('#search').press('Enter')]);
  const bad = await page.locator('p.error[role=alert]').innerText().catch(() => '');
  check(bad.includes('timesSeen:>lots') && await page.locator('tr.issue').count() === 0, 'a bad comparison showed ' + JSON.stringify(bad));
  await page.locator('#search-help summary').click();
  check(await page.locator('#search-help table').isVisible() && (await page.locator('#search-help').innerText()).includes('lastSeen:+7d'),
    'the search help is not shown');
  await page.screenshot({ path: shots + '/issues-search-help-1280-light.png' });

  // Tabs: All holds more than Unresolved once something is resolved.
  await page.goto(base + '/organizations/' + org + '/issues/?query=checkout');
  await Promise.all([page.waitForNavigation(), tab('All').click()]);
  check(await tab('All').getAttribute('aria-current') === 'page', 'All is not the current tab after a click');
  check(page.url().includes('query=checkout'), 'the tab dropped the search: ' + page.url());
  await Promise.all([page.waitForNavigation(), tab('Unresolved').click()]);

  // Bulk resolve: select the first checkout issue, resolve it, see it move
  // from Unresolved to Resolved.
  const first = (await rowIDs())[0];
  out.resolvedByBulk = first;
  const before = { unresolved: await tabCount('Unresolved'), resolved: await tabCount('Resolved') };
  await page.locator(`tr.issue[data-id="${first}"] input[name=id]`).check();
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Resolve', exact: true }).click()]);
  check(!(await rowIDs()).includes(first), 'the resolved issue is still in Unresolved');
  check(await tabCount('Unresolved') === before.unresolved - 1 && await tabCount('Resolved') === before.resolved + 1,
    'tab counts after resolving: ' + (await tabCount('Unresolved')) + '/' + (await tabCount('Resolved')));
  await Promise.all([page.waitForNavigation(), tab('Resolved').click()]);
  check((await rowIDs()).includes(first), 'the resolved issue is not in Resolved');

  // Keyboard shortcuts: j j x k r resolves the second row only.
  await page.goto(base + '/organizations/' + org + '/issues/');
  const rows = await rowIDs();
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  check(await page.locator('tr.issue.current').getAttribute('data-id') === rows[1], 'j j did not reach the second row');
  await page.keyboard.press('x');
  check(await page.locator(`tr.issue[data-id="${rows[1]}"] input[name=id]`).isChecked(), 'x did not select');
  await page.keyboard.press('k');
  check(await page.locator('tr.issue.current').getAttribute('data-id') === rows[0], 'k did not go back');
  await page.keyboard.press('?');
  check(await page.locator('#shortcuts').getAttribute('open') !== null, '? did not open the help');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('r')]);
  out.resolvedByKey = rows[1];
  out.keptByKey = rows[0];
  const after = await rowIDs();
  check(!after.includes(rows[1]) && after.includes(rows[0]), 'r resolved the wrong issues');
  await page.keyboard.press('/');
  check(await page.evaluate(() => document.activeElement.id) === 'search', '/ did not focus the search');

  mark('shortcuts');
  // Paging: every unresolved issue once, by the Next links.
  const seen = new Set();
  const ttfb = [];
  let pages = 0;
  for (;;) {
    pages++;
    // The server's time to the first byte of each list page (the API
    // calls and queries included), for the report.
    ttfb.push(await page.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0];
      return Math.round(n.responseStart - n.requestStart);
    }));
    for (const id of await rowIDs()) {
      check(!seen.has(id), 'issue ' + id + ' on two pages');
      seen.add(id);
    }
    const next = page.locator('a[rel=next]');
    if (await next.count() === 0 || pages > 20) break;
    await Promise.all([page.waitForNavigation(), next.click()]);
  }
  out.pages = pages;
  out.timings.listPagesTTFB = ttfb;
  out.paged = seen.size;
  const nowUnresolved = unresolved - 2;
  check(seen.size === nowUnresolved, 'paged through ' + seen.size + ' issues, want ' + nowUnresolved);

  mark('paging');
  // Themes: dark is kept across pages; screenshots in both, at both widths.
  await page.goto(base + '/organizations/' + org + '/issues/');
  await page.locator('#theme-select').selectOption('dark');
  check(await page.evaluate(() => document.documentElement.dataset.theme) === 'dark', 'the theme switch did not apply dark');
  await page.reload();
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(bg === 'rgb(22, 22, 29)', 'dark background after a reload: ' + bg);
  await page.screenshot({ path: shots + '/issues-1280-dark.png' });
  await page.goto(base + '/organizations/' + org + '/');
  await page.screenshot({ path: shots + '/org-home-1280-dark.png' });
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [name, path] of [['org-home', '/organizations/' + org + '/'], ['issues', '/organizations/' + org + '/issues/']]) {
    for (const theme of ['dark', 'light']) {
      await page.goto(base + path);
      await page.locator('#theme-select').selectOption(theme);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      check(wide <= 390, name + ' at 390 px is ' + wide + ' px wide');
      await page.screenshot({ path: `${shots}/${name}-390-${theme}.png`, fullPage: true });
    }
  }
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(light === 'rgb(255, 255, 255)', 'light background: ' + light);

  mark('themes');
  for (const c of out.console) check(false, 'console: ' + c);
  out.ok = out.failures.length === 0;
} catch (e) {
  out.failures.push('exception: ' + (e.stack || e));
} finally {
  await browser.close();
  console.log(JSON.stringify(out));
}
