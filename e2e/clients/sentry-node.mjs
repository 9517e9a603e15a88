// Drives the real @sentry/node SDK against FAULTLINE_DSN (envelope endpoint,
// auth in the query string, session items). See README.md.
import * as Sentry from '@sentry/node';
import { config, USER, TAG, BREADCRUMB, MESSAGE, finish, run } from './common.mjs';

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

run(async () => {
  const cfg = config();
  const failures = [];
  let requests = 0;
  Sentry.init({
    dsn: cfg.dsn,
    release: cfg.release,
    environment: cfg.environment,
    // Dedupe drops an event identical to the previous one; we want every repetition.
    integrations: (defaults) => defaults.filter((i) => i.name !== 'Dedupe'),
    // Record what the real transport got back, so a rejected request fails the script.
    transport: (opts) => {
      const t = Sentry.makeNodeTransport(opts);
      return {
        ...t,
        send: async (envelope) => {
          requests++;
          try {
            const r = await t.send(envelope);
            if (r.statusCode !== 200) failures.push(`HTTP ${r.statusCode}`);
            return r;
          } catch (err) { failures.push(String(err)); throw err; }
        },
      };
    },
  });
  Sentry.setUser(USER);
  Sentry.setTag(...TAG);
  Sentry.addBreadcrumb(BREADCRUMB);

  const sites = [
    ['parse-config', () => parseConfig({ port: '80' })],
    ['charge-card', () => chargeCard(1999)],
    ['compute-index', () => computeIndex(12, 10)],
  ];
  const sent = [];
  for (let r = 0; r < cfg.repeat; r++) {
    for (const [label, fn] of sites) {
      try { fn(); } catch (err) { sent.push({ label, event_id: Sentry.captureException(err) }); }
    }
  }
  sent.push({ label: 'message', event_id: Sentry.captureMessage(MESSAGE, 'info') });

  if (!(await Sentry.flush(10000))) failures.push('flush timed out');
  await Sentry.close(2000); // ends the session, which sends its final update
  finish({ client: 'sentry-node', sent, requests }, failures);
});
