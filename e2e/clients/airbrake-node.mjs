// Drives the real @airbrake/node notifier against Faultline's Airbrake API:
// notices to /api/v3/projects/ID/notices?key=KEY, and with
// FAULTLINE_AIRBRAKE_STATS=1 also route/query/queue stats to /api/v5/... .
// Host, project id and key come from FAULTLINE_DSN (FAULTLINE_AIRBRAKE_HOST
// overrides the host). See README.md.
import { Notifier } from '@airbrake/node';
import { config, USER, TAG, MESSAGE, finish, run } from './common.mjs';

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
  // Report from the event loop, as an application's handlers do. Without
  // this the first notice is sent before any await, its stack runs through
  // the module loader and run(), and Sentry's grouping (which hashes every
  // in-app frame) rightly puts it in an issue apart from its repetitions.
  await new Promise((resolve) => setImmediate(resolve));
  const cfg = config();
  const host = process.env.FAULTLINE_AIRBRAKE_HOST || cfg.origin;
  const stats = process.env.FAULTLINE_AIRBRAKE_STATS === '1';
  const airbrake = new Notifier({
    projectId: Number(cfg.projectId),
    projectKey: cfg.publicKey,
    host,
    apmHost: host,
    environment: cfg.environment,
    remoteConfig: false, // otherwise it polls the vendor's config service
    performanceStats: stats,
    queryStats: stats,
    queueStats: stats,
  });
  // Airbrake has no tags or breadcrumbs: user and the tag go into context/params.
  const extra = {
    context: { user: USER, version: cfg.release },
    params: { tags: Object.fromEntries([TAG]) },
  };

  const sites = [
    ['parse-config', () => parseConfig({ port: '80' })],
    ['charge-card', () => chargeCard(1999)],
    ['compute-index', () => computeIndex(12, 10)],
  ];
  const sent = [];
  const failures = [];
  const record = (label, notice) => {
    if (notice.error) failures.push(`${label}: ${notice.error.message || notice.error}`);
    sent.push({ label, event_id: notice.id }); // the id Faultline answered with
  };
  // Sites alternate, so the notifier's debounce filter (drops a notice equal to
  // the previous one within 1s) never drops a repetition.
  for (let r = 0; r < cfg.repeat; r++) {
    for (const [label, fn] of sites) {
      try { fn(); } catch (error) { record(label, await airbrake.notify({ error, ...extra })); }
    }
  }
  record('message', await airbrake.notify({ error: MESSAGE, ...extra, context: { ...extra.context, severity: 'info' } }));

  let requests = sent.length;
  if (stats) requests += await sendStats(airbrake, failures);
  await airbrake.flush();
  airbrake.close();
  finish({ client: 'airbrake-node', sent, requests }, failures);
});

// Record one route (with a breakdown group), one query and one queue metric,
// then flush the four stats reporters now instead of after their 15 s timer.
async function sendStats(airbrake, failures) {
  const route = airbrake.routes.start('POST', '/checkout', 200, 'application/json');
  route.startSpan('db'); route.endSpan('db');
  const query = airbrake.queries.start('SELECT * FROM carts WHERE id = ?');
  query.method = 'POST'; query.route = '/checkout';
  airbrake.queries.notify(query);
  airbrake.routes.notify(route);
  const job = airbrake.queues.start('send-receipt');
  airbrake.queues.notify(job);

  const reporters = [airbrake.routes._routes, airbrake.routes._breakdowns, airbrake.queries, airbrake.queues._queues];
  const pending = reporters.map((rep) => new Promise((resolve) => {
    const request = rep._requester;
    rep._requester = (req) => request(req).then(resolve, (err) => { failures.push(`${req.url}: ${err.message || err}`); resolve(); });
    clearTimeout(rep._timer);
    rep._flush();
  }));
  await Promise.all(pending);
  return reporters.length;
}
