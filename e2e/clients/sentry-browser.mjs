// Drives the real @sentry/browser SDK in headless Chromium against
// FAULTLINE_DSN. The page is served from another origin (its own port), so the
// SDK's cross-origin fetch (text/plain, auth in the query string) really
// exercises Faultline's CORS answers. See README.md.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { config, USER, TAG, BREADCRUMB, MESSAGE, finish, run } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

// The code that runs in the page; bundled with esbuild into an IIFE.
const PAGE_SOURCE = `
import * as Sentry from '@sentry/browser';
const cfg = window.FAULTLINE;
const st = (window.__faultline = { sent: [], failures: [], requests: 0, sessions: 0, done: false });

class PaymentError extends Error { constructor(m) { super(m); this.name = 'PaymentError'; } }
function parseConfig(raw) {
  if (typeof raw.port !== 'number') throw new TypeError('invalid config: port must be a number');
}
function chargeCard(cents) {
  throw new PaymentError('card declined: insufficient funds');
}
function computeIndex(i, len) {
  if (i >= len) throw new RangeError('index out of range');
}
const LABELS = { TypeError: 'parse-config', PaymentError: 'charge-card', RangeError: 'compute-index' };

Sentry.init({
  dsn: cfg.dsn, release: cfg.release, environment: cfg.environment,
  // Dedupe would drop repeated events; BrowserApiErrors would catch the
  // setTimeout error before it reaches the global onerror handler.
  integrations: (all) => all.filter((i) => i.name !== 'Dedupe' && i.name !== 'BrowserApiErrors'),
  beforeSend(event) {
    // (captureMessage events carry a synthetic exception without a type)
    const ex = event.exception?.values?.at(-1);
    st.sent.push({ label: LABELS[ex?.type] ?? 'message', event_id: event.event_id, handled: ex?.mechanism?.handled !== false });
    return event;
  },
  transport: (opts) => {
    const t = Sentry.makeFetchTransport(opts);
    return { ...t, send: async (envelope) => {
      st.requests++;
      if (envelope[1].some(([item]) => item.type === 'session')) st.sessions++;
      try {
        const r = await t.send(envelope);
        if (r.statusCode !== 200) st.failures.push('HTTP ' + r.statusCode);
        return r;
      } catch (err) { st.failures.push('transport: ' + err); throw err; }
    } };
  },
});
Sentry.setUser(cfg.user);
Sentry.setTag(...cfg.tag);
Sentry.addBreadcrumb(cfg.breadcrumb);

(async () => {
  // Later repetitions run after an await; yield once first so the first one
  // does too and every repetition has the same in-app frames.
  await new Promise((resolve) => setTimeout(resolve));
  for (let r = 0; r < cfg.repeat; r++) {
    try { parseConfig({ port: '80' }); } catch (err) { Sentry.captureException(err); }
    try { chargeCard(1999); } catch (err) { Sentry.captureException(err); }
    setTimeout(() => computeIndex(12, 10)); // uncaught: reported by the global onerror handler
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  Sentry.captureMessage(cfg.message, 'info');
  // The BrowserSession integration sends its session once the page is idle,
  // and only when a release is set (the SDK discards sessions without one).
  if (cfg.release) {
    for (let i = 0; i < 100 && st.sessions === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    if (st.sessions === 0) st.failures.push('no session was sent');
  }
  if (!(await Sentry.flush(10000))) st.failures.push('flush timed out');
  st.done = true;
})();
`;

run(async () => {
  const cfg = config();
  const bundle = await esbuild.build({
    stdin: { contents: PAGE_SOURCE, resolveDir: here, loader: 'js' },
    bundle: true, format: 'iife', target: 'es2020', write: false, logLevel: 'warning',
  });
  const pageCfg = { dsn: cfg.dsn, release: cfg.release, environment: cfg.environment, repeat: cfg.repeat, user: USER, tag: TAG, breadcrumb: BREADCRUMB, message: MESSAGE };
  const html = `<!doctype html><title>faultline e2e</title><script>window.FAULTLINE=${JSON.stringify(pageCfg)}</script><script src="/bundle.js"></script>`;

  // The page's own origin: 127.0.0.1 on a free port, never the DSN's port.
  const server = http.createServer((req, res) => {
    const js = req.url === '/bundle.js';
    res.writeHead(200, { 'Content-Type': js ? 'text/javascript' : 'text/html' });
    res.end(js ? bundle.outputFiles[0].contents : html);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pageURL = `http://127.0.0.1:${server.address().port}/`;
  if (new URL(pageURL).origin === cfg.origin) throw new Error('page origin equals the DSN origin');

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const failures = [];
  const toDSN = (url) => url.startsWith(cfg.origin + '/');
  let dsnRequests = 0, preflights = 0;
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.error(`[browser ${m.type()}] ${m.text()}`));
    page.on('pageerror', (err) => console.error(`[browser uncaught] ${err.message}`));
    page.on('request', (r) => { if (toDSN(r.url())) { dsnRequests++; if (r.method() === 'OPTIONS') preflights++; } });
    page.on('requestfailed', (r) => { if (toDSN(r.url())) failures.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`); });
    page.on('response', (r) => { if (toDSN(r.url()) && r.status() !== 200) failures.push(`${r.request().method()} ${r.url()}: HTTP ${r.status()}`); });

    await page.goto(pageURL);
    await page.waitForFunction(() => window.__faultline?.done, null, { timeout: 30000 });
    const st = await page.evaluate(() => window.__faultline);
    failures.push(...st.failures);
    finish({ client: 'sentry-browser', sent: st.sent, requests: dsnRequests, sessions: st.sessions, preflights, page_origin: new URL(pageURL).origin }, failures);
  } finally {
    await browser.close();
    server.close();
  }
});
