// The source-map end-to-end test's client (see e2e/sourcemaps_test.go):
//
//   node sourcemap-browser.mjs build OUTDIR VARIANT
//     bundles sourcemap-app/main.js with the real esbuild, minified, with
//     source maps, into OUTDIR/static/app.min.js(.map); VARIANT 2 injects
//     audit.js first, so that the minified names differ;
//   node sourcemap-browser.mjs browse DIR
//     serves DIR on its own origin to headless Chromium, where the bundle's
//     @sentry/browser reports the application's error to FAULTLINE_DSN
//     (with FAULTLINE_RELEASE when set), and prints the event id.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { config, finish, run } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [mode, dir, variant] = process.argv.slice(2);

async function build() {
  await esbuild.build({
    entryPoints: [path.join(here, 'sourcemap-app', 'main.js')],
    inject: variant === '2' ? [path.join(here, 'sourcemap-app', 'audit.js')] : [],
    bundle: true, minify: true, sourcemap: true, format: 'iife', target: 'es2020',
    outfile: path.join(dir, 'static', 'app.min.js'), logLevel: 'warning',
  });
  finish({ built: path.join(dir, 'static', 'app.min.js') }, []);
}

async function browse() {
  const cfg = config();
  const pageCfg = { dsn: cfg.dsn, release: process.env.FAULTLINE_RELEASE || '' };
  const html = `<!doctype html><title>faultline source maps</title><script>window.FAULTLINE=${JSON.stringify(pageCfg)};` +
    `window.__faultline={}</script><script src="/static/app.min.js"></script>`;
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    if (p === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      return res.end(html);
    }
    const file = path.join(dir, path.normalize(p).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(dir) || !fs.existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'Content-Type': file.endsWith('.js') ? 'text/javascript' : 'application/json' });
    res.end(fs.readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pageURL = `http://127.0.0.1:${server.address().port}/`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const failures = [];
  let st;
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.error(`[browser ${m.type()}] ${m.text()}`));
    page.on('pageerror', (err) => failures.push(`uncaught: ${err.message}`));
    page.on('response', (r) => { if (r.url().startsWith(cfg.origin + '/') && r.status() !== 200) failures.push(`${r.url()}: HTTP ${r.status()}`); });
    await page.goto(pageURL);
    await page.waitForFunction(() => window.__faultline?.done, null, { timeout: 30000 });
    st = await page.evaluate(() => window.__faultline);
    if (!st.eventID) failures.push('no event was captured');
    if (!st.flushed) failures.push('flush timed out');
  } finally {
    await browser.close();
    server.close();
  }
  finish({ eventID: st?.eventID, page: pageURL }, failures);
}

run(mode === 'build' ? build : browse);
