// Drives the legacy raven (Node) client against FAULTLINE_DSN: /store/
// endpoint, X-Sentry-Auth v5, body = base64(zlib(JSON)). See README.md.
'use strict';
const Raven = require('raven');

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

// capture*(…, cb) calls cb(err, eventId) once the HTTP request has finished.
const send = (method, arg, kwargs) =>
  new Promise((resolve, reject) => Raven[method](arg, kwargs, (err, id) => (err ? reject(err) : resolve(id))));

async function main() {
  if (!process.env.FAULTLINE_DSN) throw new Error('FAULTLINE_DSN is required');
  Raven.config(process.env.FAULTLINE_DSN, {
    release: process.env.FAULTLINE_RELEASE || undefined,
    environment: process.env.FAULTLINE_ENVIRONMENT || 'test',
    sendTimeout: 10,
  });
  Raven.setContext({ user: { id: 'user-42', email: 'alice@example.com' }, tags: { feature: 'checkout' } });
  Raven.captureBreadcrumb({ category: 'checkout', message: 'cart loaded', level: 'info' });

  const sites = [
    ['parse-config', () => parseConfig({ port: '80' })],
    ['charge-card', () => chargeCard(1999)],
    ['compute-index', () => computeIndex(12, 10)],
  ];
  const sent = [];
  const repeat = Number(process.env.FAULTLINE_REPEAT || 2);
  // Each capture below awaits its request, so later repetitions run from an
  // async continuation; yield once first so the first one does too and every
  // repetition has the same in-app frames (else the first would group apart).
  await new Promise((resolve) => setImmediate(resolve));
  for (let r = 0; r < repeat; r++) {
    for (const [label, fn] of sites) {
      try { fn(); } catch (err) { sent.push({ label, event_id: await send('captureException', err, {}) }); }
    }
  }
  sent.push({ label: 'message', event_id: await send('captureMessage', 'faultline e2e message', { level: 'info' }) });
  console.log(JSON.stringify({ client: 'raven', sent, requests: sent.length, ok: true, failures: [] }));
}

main().catch((err) => {
  console.log(JSON.stringify({ client: 'raven', ok: false, failures: [String(err)] }));
  console.error(err);
  process.exit(1);
});
