// A small application for the source-map end-to-end test: bundled and
// minified with esbuild together with @sentry/browser, its failure reported
// by the real SDK from headless Chromium (sourcemap-browser.mjs).
import * as Sentry from '@sentry/browser';
import { checkout } from './cart.js';

const cfg = window.FAULTLINE;
Sentry.init({
  dsn: cfg.dsn,
  release: cfg.release || undefined,
  integrations: (all) => all.filter((i) => i.name !== 'Dedupe'),
});

export function main() {
  const items = [{ sku: 'a-1', cents: 1999 }, { sku: 'b-2', cents: 'free' }];
  try {
    return checkout(items);
  } catch (err) {
    window.__faultline.eventID = Sentry.captureException(err);
  }
}

main();
Sentry.flush(10000).then((ok) => {
  window.__faultline.flushed = ok;
  window.__faultline.done = true;
});
