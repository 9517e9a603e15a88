// Drives Faultline's issue page in headless Chromium as a user would: logs
// in through the login form, opens issues, checks what a reader relies on
// (the in-app frame, the highlighted crash line, the breadcrumbs, the tag
// distribution), runs axe-core, opens an issue whose event is full of
// markup and checks that nothing of it runs, resolves an issue through
// its form, then comments on it, bookmarks it, edits the comment and
// deletes a second one. Configured by the environment (see
// ui_issue_test.go); prints a one-line JSON summary.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { finish, run } from './common.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(k + ' is required'); return v; };

run(async () => {
  const base = env('FAULTLINE_URL');
  const origin = new URL(base).origin;
  const issues = JSON.parse(env('UI_ISSUES')); // [{name, path, frame, tag}]
  const xss = JSON.parse(env('UI_XSS')); // {path, texts}
  const resolvePath = env('UI_RESOLVE');
  const crumbs = JSON.parse(env('UI_CRUMBS')); // {path, category, level, total}
  const events = JSON.parse(env('UI_EVENTS')); // {path, query, want}
  const shots = process.env.FAULTLINE_SCREENSHOTS || '';
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const failures = [];
  const out = { client: 'ui-issue', pages: {}, dialogs: [], consoleErrors: [], foreignRequests: [], axe: {} };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on('dialog', (d) => { out.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    // Chromium asks pages without an icon (the login page) for
    // /favicon.ico, which is Faultline's 404 page: not an error of the page.
    page.on('console', (m) => {
      if (m.type() === 'error' && !(m.location()?.url || '').endsWith('/favicon.ico')) out.consoleErrors.push(`${m.text()} (${m.location()?.url})`);
    });
    page.on('pageerror', (err) => out.consoleErrors.push('uncaught: ' + err.message));
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(origin + '/') && !u.startsWith('data:')) out.foreignRequests.push(u);
    });

    // Log in through the form; it brings us back to the first issue.
    await page.goto(`${base}/login/?next=${encodeURIComponent(issues[0].path)}`);
    await page.getByLabel('E-mail').fill(env('UI_EMAIL'));
    await page.getByLabel('Password').fill(env('UI_PASSWORD'));
    await Promise.all([page.waitForURL((u) => u.pathname === issues[0].path), page.getByRole('button', { name: 'Log in' }).click()]);

    for (const is of issues) {
      if (new URL(page.url()).pathname !== is.path) await page.goto(base + is.path);
      const r = await page.evaluate((want) => {
        const q = (s) => document.querySelector(s);
        const inApp = [...document.querySelectorAll('.frame.in-app')];
        // The crash line of the frame the test names.
        const frame = inApp.find((f) => f.querySelector('summary')?.textContent.includes(want));
        const crash = frame?.querySelector('details[open] tr.crash');
        const spans = crash ? [...crash.querySelectorAll('span[class^="hl-"]')] : [];
        const crumbs = [...document.querySelectorAll('#breadcrumbs tbody tr')];
        return {
          title: q('.issue-head h1')?.textContent.trim(),
          inAppFrames: inApp.map((f) => f.querySelector('summary')?.textContent.trim()),
          inAppOpen: inApp.length > 0 && inApp.every((f) => f.querySelector('details').open),
          systemCollapsed: [...document.querySelectorAll('.frame.system details')].filter((d) => !d.open).length,
          crashLine: crash?.textContent.trim(),
          crashHighlighted: spans.length > 0,
          // The stylesheet really applies: a highlighted token is not in
          // the page's own text color, and the crash line is outlined.
          highlightStyled: spans.some((s) => getComputedStyle(s).color !== getComputedStyle(document.body).color),
          crashMarked: !!crash && getComputedStyle(crash.querySelector('td')).borderTopColor === 'rgb(192, 38, 45)',
          breadcrumbs: crumbs.length,
          lastCrumbEmphasized: crumbs.length > 0 && crumbs.at(-1).classList.contains('last'),
          tagDistribution: [...document.querySelectorAll('#tag-distribution .dist li')].map((li) => li.textContent.replace(/\s+/g, ' ').trim()),
          chartBars: document.querySelectorAll('.chart rect').length,
        };
      }, is.frame);
      await page.evaluate(AXE);
      const axe = await page.evaluate(async () => {
        const res = await window.axe.run(document, { resultTypes: ['violations'] });
        return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
      });
      out.pages[is.name] = r;
      out.axe[is.name] = axe;
      if (!r.inAppFrames.some((f) => f.includes(is.frame))) failures.push(`${is.name}: no in-app frame ${is.frame}: ${JSON.stringify(r.inAppFrames)}`);
      if (!r.inAppOpen || !r.crashHighlighted || !r.highlightStyled || !r.crashMarked) failures.push(`${is.name}: crash line not shown highlighted: ${JSON.stringify(r)}`);
      if (!r.breadcrumbs || !r.lastCrumbEmphasized) failures.push(`${is.name}: breadcrumbs: ${r.breadcrumbs}, last emphasized ${r.lastCrumbEmphasized}`);
      if (!r.tagDistribution.includes(is.tag)) failures.push(`${is.name}: no ${is.tag} in the tag distribution: ${JSON.stringify(r.tagDistribution)}`);
      if (axe.length) failures.push(`${is.name}: axe: ${axe.join('; ')}`);
    }

    const step = (name) => console.error(`${new Date().toISOString()} ${name}`);
    step('breadcrumb filters');
    // Breadcrumb filters, in place: rows hide, the address keeps the
    // filter, the page does not reload.
    await page.goto(base + crumbs.path);
    await page.evaluate(() => { window.__notReloaded = true; });
    const visible = () => page.evaluate(() => [...document.querySelectorAll('#breadcrumbs tr.crumb')].filter((r) => !r.hidden)
      .map((r) => r.dataset.category + '/' + r.dataset.level));
    const cf = { total: (await visible()).length, buttonHidden: await page.locator('#crumb-filter button[type=submit]').isHidden() };
    await page.selectOption('#crumb-category', crumbs.category);
    cf.byCategory = await visible();
    cf.url = page.url();
    await page.selectOption('#crumb-category', '');
    await page.selectOption('#crumb-level', crumbs.level);
    cf.byLevel = await visible();
    cf.count = (await page.locator('#crumb-count').textContent()).trim();
    cf.notReloaded = await page.evaluate(() => window.__notReloaded === true);
    out.pages.crumbFilter = cf;
    if (cf.total !== crumbs.total || !cf.buttonHidden) failures.push('crumb filter: ' + JSON.stringify(cf));
    if (!cf.byCategory.length || !cf.byCategory.every((c) => c.startsWith(crumbs.category + '/')) || cf.byCategory.length === cf.total) failures.push('crumb filter by category: ' + JSON.stringify(cf));
    if (!new URL(cf.url).searchParams.get('crumbCategory')) failures.push('crumb filter: the address does not keep it: ' + cf.url);
    if (!cf.byLevel.length || !cf.byLevel.every((c) => c.endsWith('/' + crumbs.level)) || !cf.notReloaded) failures.push('crumb filter by level: ' + JSON.stringify(cf));
    // The same filter without a script: the server filters (the address
    // the script kept, loaded again).
    const noJS = await browser.newContext({ viewport: { width: 1280, height: 800 }, javaScriptEnabled: false, storageState: await context.storageState() });
    const np = await noJS.newPage();
    await np.goto(base + crumbs.path + '?crumbCategory=' + encodeURIComponent(crumbs.category));
    const serverRows = await np.locator('#breadcrumbs tr.crumb').count();
    await noJS.close();
    out.pages.crumbFilterNoJS = serverRows;
    if (serverRows !== cf.byCategory.length) failures.push(`crumb filter without a script: ${serverRows} rows, want ${cf.byCategory.length}`);

    step('events tab');
    // The events tab: its search by tag, the link back to an event.
    await page.goto(base + events.path + 'events/');
    const all = await page.locator('tr.event-row').count();
    await page.fill('#event-search', events.query);
    await Promise.all([page.waitForURL((u) => u.searchParams.get('query') === events.query), page.locator('#event-search').press('Enter')]);
    const found = await page.locator('tr.event-row').count();
    await page.evaluate(AXE);
    const axeEvents = await page.evaluate(async () => {
      const res = await window.axe.run(document, { resultTypes: ['violations'] });
      return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
    });
    out.axe.events = axeEvents;
    if (shots) await page.screenshot({ path: shots + '/issue-events-1280-light.png' });
    await Promise.all([page.waitForURL((u) => u.pathname.startsWith(events.path + 'events/') && u.pathname.length > events.path.length + 8),
      page.locator('tr.event-row a').first().click()]);
    const opened = await page.locator('.event-nav code').first().textContent();
    out.pages.events = { all, found, opened };
    if (all < events.want || found !== events.want) failures.push(`events tab: ${all} events, ${found} for ${events.query}, want ${events.want}`);
    if (axeEvents.length) failures.push('events tab: axe: ' + axeEvents.join('; '));

    step('screenshots');
    // Screenshots of the issue page: light and dark, 1280×800 and 390 px.
    if (shots) {
      for (const [w, h] of [[1280, 800], [390, 844]]) {
        await page.setViewportSize({ width: w, height: h });
        for (const scheme of ['light', 'dark']) {
          await page.emulateMedia({ colorScheme: scheme });
          await page.goto(base + issues[0].path);
          await page.screenshot({ path: `${shots}/issue-${w}-${scheme}.png`, fullPage: w < 1280 });
          if (w < 1280) {
            // Usable at 390 px: nothing wider than the window.
            const wide = await page.evaluate(() => document.documentElement.scrollWidth);
            if (wide > w + 1) failures.push(`issue page at ${w} px is ${wide} px wide`);
          }
        }
      }
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.emulateMedia({ colorScheme: 'light' });
    }

    step('xss');
    // The event full of markup, every frame open.
    await page.goto(base + xss.path + '?view=full');
    const x = await page.evaluate((texts) => {
      const body = document.body.innerText;
      return {
        missing: texts.filter((t) => !body.includes(t)),
        scripts: [...document.scripts].map((s) => s.src).filter((s) => !s.includes('/static/')),
        injected: document.querySelectorAll('main img, main svg:not(.bar):not([role=img]), main iframe, main object, main embed, [onerror], [onload]').length,
        jsLinks: [...document.querySelectorAll('a[href]')].filter((a) => !/^https?:/.test(a.href)).map((a) => a.href),
      };
    }, xss.texts);
    await page.waitForTimeout(300); // let anything injected have its chance
    out.pages.xss = x;
    if (x.missing.length) failures.push(`xss: not shown literally: ${JSON.stringify(x.missing)}`);
    if (x.scripts.length || x.injected || x.jsLinks.length) failures.push(`xss: injected markup: ${JSON.stringify(x)}`);

    // Resolve through the form: the page comes back, resolved.
    await page.goto(base + resolvePath);
    await Promise.all([page.waitForURL((u) => u.pathname === resolvePath), page.locator('#resolve').click()]);
    out.resolvedStatus = (await page.locator('#issue-status').textContent()).trim();
    if (out.resolvedStatus !== 'Resolved') failures.push('after resolving: status ' + out.resolvedStatus);
    if (!(await page.locator('#unresolve').count())) failures.push('after resolving: no unresolve button');

    // The workflow's forms: a comment (its markup shown as text, only its
    // https link a link), then a bookmark.
    await page.locator('#comment-text').fill('see https://example.com/fix <b>bold</b> javascript:alert(7)');
    await Promise.all([page.waitForURL((u) => u.pathname === resolvePath && u.hash === '#activity'), page.locator('#comment').click()]);
    const note = await page.evaluate(() => {
      const n = document.querySelector('#activity blockquote.note');
      return { text: n?.textContent, links: [...(n?.querySelectorAll('a') || [])].map((a) => a.href), markup: !!n?.querySelector('b') };
    });
    out.comment = note;
    if (!note.text?.includes('<b>bold</b> javascript:alert(7)') || note.markup || note.links.length !== 1 || note.links[0] !== 'https://example.com/fix') {
      failures.push('comment: ' + JSON.stringify(note));
    }
    await Promise.all([page.waitForURL((u) => u.pathname === resolvePath), page.locator('#bookmark').click()]);
    out.bookmarked = await page.locator('#bookmark').getAttribute('aria-pressed');
    if (out.bookmarked !== 'true') failures.push('after bookmarking: aria-pressed ' + out.bookmarked);

    // One's own comment: edited through its form (under "Edit"), then a
    // second one written and deleted; the edited one stays.
    await page.locator('#activity details.comment-edit summary').first().click();
    await page.locator('#activity details.comment-edit textarea').first().fill('edited: see https://example.com/fixed');
    await Promise.all([page.waitForURL((u) => u.pathname === resolvePath && u.hash === '#activity'),
      page.locator('#activity details.comment-edit button.comment-save').first().click()]);
    out.edited = (await page.locator('#activity blockquote.note').first().textContent())?.trim();
    if (out.edited !== 'edited: see https://example.com/fixed') failures.push('after editing the comment: ' + out.edited);
    await page.locator('#comment-text').fill('a second thought');
    await Promise.all([page.waitForURL((u) => u.pathname === resolvePath && u.hash === '#activity'), page.locator('#comment').click()]);
    const notes = async () => page.locator('#activity blockquote.note').allTextContents();
    if ((await notes()).length !== 2) failures.push('comments before the delete: ' + JSON.stringify(await notes()));
    await Promise.all([page.waitForURL((u) => u.pathname === resolvePath && u.hash === '#activity'),
      page.locator('#activity form.comment-delete button').first().click()]);
    out.notesAfterDelete = (await notes()).map((n) => n.trim());
    if (out.notesAfterDelete.length !== 1 || out.notesAfterDelete[0] !== 'edited: see https://example.com/fixed') {
      failures.push('comments after the delete: ' + JSON.stringify(out.notesAfterDelete));
    }

    if (out.dialogs.length) failures.push('dialogs opened: ' + out.dialogs.join(', '));
    if (out.consoleErrors.length) failures.push('console errors: ' + out.consoleErrors.join(' | '));
    if (out.foreignRequests.length) failures.push('requests to other hosts: ' + out.foreignRequests.join(', '));
    finish(out, failures);
  } finally {
    await browser.close();
  }
});
