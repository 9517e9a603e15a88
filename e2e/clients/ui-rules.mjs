// Drives Faultline's alert rule pages in headless Chromium: logs in, sets
// the project's WebHooks plugin (the test's own receiver, with a secret),
// creates a rule that posts to it through the rule form, test-fires it and
// reads each action's result, sends an event that fires the rule and waits
// for the list to show the action's last delivery, then deletes another
// rule through its confirmation page. axe-core runs on every page.
// Configured by the environment (see ui_rules_test.go); prints a one-line
// JSON summary.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { finish, run } from './common.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(k + ' is required'); return v; };

run(async () => {
  const base = env('FAULTLINE_URL');
  const rules = env('UI_RULES'); // the project's rules page path
  const hook = env('UI_HOOK_URL');
  const storeURL = env('UI_STORE_URL');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const failures = [];
  const out = { client: 'ui-rules', axe: {}, consoleErrors: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && !(m.location()?.url || '').endsWith('/favicon.ico')) out.consoleErrors.push(`${m.text()} (${m.location()?.url})`);
    });
    page.on('pageerror', (err) => out.consoleErrors.push('uncaught: ' + err.message));
    const axe = async (name) => {
      await page.evaluate(AXE);
      const v = await page.evaluate(async () => {
        const res = await window.axe.run(document, { resultTypes: ['violations'] });
        return res.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')
          .map((x) => `${x.id} (${x.impact}): ${x.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
      });
      out.axe[name] = v;
      if (v.length) failures.push(`${name}: axe: ${v.join('; ')}`);
    };
    const submit = async (locator, pathname) => {
      await Promise.all([page.waitForURL((u) => u.pathname === pathname), locator.click()]);
    };

    const t00 = Date.now();
    await page.goto(`${base}/login/?next=${encodeURIComponent(rules)}`);
    await page.getByLabel('E-mail').fill(env('UI_EMAIL'));
    await page.getByLabel('Password').fill(env('UI_PASSWORD'));
    await submit(page.getByRole('button', { name: 'Log in' }), rules);
    out.loginMs = Date.now() - t00;
    out.rulesBefore = await page.locator('.rule h2').allTextContents();
    await axe('list');

    // The WebHooks plugin: the receiver, a secret, enabled.
    await page.getByRole('link', { name: 'WebHooks plugin' }).click();
    await page.waitForSelector('textarea[name=urls]');
    await axe('webhooks');
    const hooksPath = new URL(page.url()).pathname;
    await page.locator('input[name=enabled]').check();
    await page.locator('textarea[name=urls]').fill(hook);
    await page.locator('input[name=secret]').fill('browser-secret');
    await submit(page.getByRole('button', { name: 'Save' }), hooksPath);
    out.webhooksSaved = await page.locator('.notice').count() > 0;
    if (!out.webhooksSaved) failures.push('webhooks: not saved: ' + (await page.locator('main').innerText()));

    // A new rule through the form.
    await page.goto(base + rules + 'new/');
    await axe('new rule');
    await page.locator('input[name=name]').fill('Webhook on new issues');
    await page.locator('input[name=emailOn]').uncheck();
    await page.locator('input[name=webhooksOn]').check();
    await page.locator('input[name=levelOn]').check();
    await page.locator('select[name=levelMatch]').selectOption('gte');
    await page.locator('select[name=level]').selectOption('40');
    await submit(page.getByRole('button', { name: 'Create rule' }), rules);
    const created = page.locator('.rule', { has: page.getByRole('heading', { name: 'Webhook on new issues' }) });
    if (!(await created.count())) failures.push('the new rule is not listed: ' + (await page.locator('main').innerText()));

    // Test-fire it: each action's result.
    const ruleID = ((await created.getAttribute('id')) || '').replace('rule-', '');
    await submit(created.getByRole('button', { name: 'Send a test notification' }), rules + ruleID + '/test/');
    out.testResults = await page.locator('#test-results tbody tr').allInnerTexts();
    await axe('test-fire');
    if (!out.testResults.length || !out.testResults.every((r) => r.includes('sent'))) failures.push('test-fire: ' + JSON.stringify(out.testResults));

    // An event fires the rule; the list shows the delivery.
    const ev = await fetch(storeURL, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ level: 'error', platform: 'javascript', message: 'browser rule test: payment declined' }) });
    if (ev.status !== 200) failures.push('store: ' + ev.status);
    let delivery = '';
    const t0 = Date.now();
    for (let i = 0; i < 60 && !delivery.includes('sent'); i++) {
      await page.goto(base + rules);
      const row = page.locator('.rule', { has: page.getByRole('heading', { name: 'Webhook on new issues' }) }).locator('.deliveries tbody tr').first();
      delivery = (await row.innerText()).replace(/\s+/g, ' ');
      if (!delivery.includes('sent')) await page.waitForTimeout(500);
    }
    out.delivery = delivery;
    out.deliveryShownAfterMs = Date.now() - t0;
    if (!delivery.includes('sent') || !delivery.includes('rule:')) failures.push('the list does not show the delivery: ' + delivery);
    await axe('list with deliveries');

    // Delete the default rule, through its confirmation page.
    const def = page.locator('.rule', { has: page.getByRole('heading', { name: 'Send a notification for new issues' }) });
    await def.getByRole('link', { name: 'Delete' }).click();
    await page.waitForSelector('button.danger');
    await axe('delete');
    await submit(page.getByRole('button', { name: 'Delete the rule' }), rules);
    out.rulesAfter = await page.locator('.rule h2').allTextContents();
    if (out.rulesAfter.includes('Send a notification for new issues')) failures.push('the default rule is still listed');
    if (out.consoleErrors.length) failures.push('console errors: ' + out.consoleErrors.join(' | '));
    finish(out, failures);
  } finally {
    await browser.close();
  }
});
