// Generates the @sentry/browser part of the grouping corpus: the real SDK,
// bundled with esbuild, runs in headless Chromium; each site fails several
// times with different data, and the events the SDK produces (captured by
// a transport that sends nothing) are printed as JSON lines
// {label, group, event}. Two copies of one script served under different
// cache-busting URLs (hash in the name, version in the path, query string)
// must group together.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

const PAGE_SOURCE = `
import * as Sentry from '@sentry/browser';
const captured = (window.__captured = []);
Sentry.init({
  dsn: 'http://public@127.0.0.1:9/1', release: 'web@8.2.0', environment: 'production',
  integrations: (all) => all.filter((i) => i.name !== 'Dedupe' && i.name !== 'BrowserSession' && i.name !== 'BrowserApiErrors'),
  transport: () => ({
    send: async (envelope) => {
      for (const [header, payload] of envelope[1]) if (header.type === 'event') captured.push(payload);
      return { statusCode: 200 };
    },
    flush: async () => true,
  }),
});
Sentry.setUser({ id: 'user-42', email: 'alice@example.com' });

class PaymentError extends Error { constructor(m) { super(m); this.name = 'PaymentError'; } }
function parseConfig(raw) {
  if (typeof raw.port !== 'number') throw new TypeError('invalid config: port must be a number, got ' + JSON.stringify(raw.port));
}
function chargeCard(order) { throw new PaymentError('card declined: insufficient funds for order ' + order); }
function computeIndex(i, len) { if (i >= len) throw new RangeError('index ' + i + ' out of range'); }
function scheduleIndex(i) { setTimeout(() => computeIndex(i, 10)); } // uncaught: the global onerror reports it
function validateItems(items) { return items.map((x) => { if (x < 0) throw new Error('bad item ' + x); return x; }); }
function renderDeployed(n) { window.__deploys[n](n); }
function message(text) { Sentry.captureMessage(text); }

async function run(fn, arg) {
  try { await fn(arg); } catch (err) { Sentry.captureException(err); }
}
const sites = { parseConfig, chargeCard, scheduleIndex, validateItems, renderDeployed, message };
window.__run = async (name, arg) => {
  const before = captured.length;
  await run(sites[name], arg);
  for (let i = 0; i < 100 && captured.length === before; i++) await new Promise((r) => setTimeout(r, 10));
  await Sentry.flush(2000);
  return captured.slice(before);
};
`;

// The same deployed script under two cache-busting URLs.
const DEPLOYED = `(window.__deploys = window.__deploys || []).push(function renderCart(n) {
  throw new Error('cart render failed for cart ' + n);
});
`;

const RUNS = [
  ['parse-config#0', 'parse-config', 'parseConfig', { port: '80' }],
  ['parse-config#1', 'parse-config', 'parseConfig', { port: null }],
  ['charge-card#0', 'charge-card', 'chargeCard', 1234],
  ['charge-card#1', 'charge-card', 'chargeCard', 98765],
  ['uncaught#0', 'uncaught-index', 'scheduleIndex', 12],
  ['uncaught#1', 'uncaught-index', 'scheduleIndex', 4096],
  ['anonymous#0', 'anonymous-callback', 'validateItems', [1, -2]],
  ['anonymous#1', 'anonymous-callback', 'validateItems', [-9]],
  ['deploy#0', 'deployed-script', 'renderDeployed', 0],
  ['deploy#1', 'deployed-script', 'renderDeployed', 1],
  ['message#0', 'user-not-found', 'message', 'user 42 not found'],
  ['message#1', 'user-not-found', 'message', 'user 31337 not found'],
];

const bundle = await esbuild.build({
  stdin: { contents: PAGE_SOURCE, resolveDir: path.join(here, '..'), loader: 'js' },
  bundle: true, format: 'iife', target: 'es2020', write: false, logLevel: 'warning',
});
const html = '<!doctype html><title>corpus</title>' +
  '<script src="/static/js/app.3f9a8b7c.js?v=1"></script>' +
  '<script src="/static/js/v2.1.0/app.1a2b3c4d.min.js?cb=99"></script>' +
  '<script src="/assets/main.js"></script>';
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/') { res.writeHead(200, { 'Content-Type': 'text/html' }); res.end(html); return; }
  res.writeHead(200, { 'Content-Type': 'text/javascript' });
  res.end(url.pathname === '/assets/main.js' ? bundle.outputFiles[0].contents : DEPLOYED);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  page.on('pageerror', (err) => console.error(`[browser uncaught] ${err.message}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.__run);
  for (const [label, group, site, arg] of RUNS) {
    const events = await page.evaluate(([s, a]) => window.__run(s, a), [site, arg]);
    if (events.length !== 1) throw new Error(`${label}: captured ${events.length} events`);
    process.stdout.write(JSON.stringify({ label, group: 'browser/' + group, event: events[0] }) + '\n');
  }
} finally {
  await browser.close();
  server.close();
}
