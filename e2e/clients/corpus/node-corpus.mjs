// Generates the @sentry/node part of the grouping corpus: each site below
// fails several times with different data, and the events the real SDK
// produces (captured by a transport that sends nothing) are printed as
// JSON lines {label, group, event}. Events of one group must land in one
// issue. See ../README.md (Grouping corpus).
import * as Sentry from '@sentry/node';

const captured = [];
Sentry.init({
  dsn: 'http://public@127.0.0.1:9/1',
  release: 'shop@3.1.0',
  environment: 'production',
  // Dedupe would drop repeats, and Console would record this script's
  // output as breadcrumbs; the rest of the defaults (context lines, linked
  // errors) stay, as in an application.
  integrations: (all) => all.filter((i) => i.name !== 'Dedupe' && i.name !== 'Console'),
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
  if (typeof raw.port !== 'number') throw new TypeError(`invalid config: port must be a number, got ${JSON.stringify(raw.port)}`);
}
function chargeCard(order) {
  throw new PaymentError(`card declined: insufficient funds for order ${order}`);
}
function computeIndex(i, len) {
  if (i >= len) throw new RangeError(`index ${i} out of range`);
}
function loadProfile(id) {
  throw new Error(`profile ${id} missing`);
}
function checkout(id) {
  try { loadProfile(id); } catch (err) { throw new Error('checkout failed', { cause: err }); }
}
function validateItems(items) {
  return items.map((x) => { if (x < 0) throw new Error(`bad item ${x}`); return x; });
}
async function fetchOrders(user) {
  await null;
  throw new Error(`orders unavailable for ${user}`);
}
function queryDatabase(table) {
  throw new Error(`timeout after 3000ms querying ${table}`);
}

const runs = [];
// Every site runs through the same two frames (the loop and run), so that
// the events of one site have the same stack whatever their argument.
function site(label, group, fn, arg) { runs.push({ label, group, fn, arg }); }
async function run(fn, arg) {
  try { await fn(arg); } catch (err) { Sentry.captureException(err); }
}
function message(text) { Sentry.captureMessage(text); }
function gateway(id) { Sentry.captureMessage(`payment gateway returned 502 for https://pay.example.com/v1/charge?id=${id}`, 'warning'); }
function timedOutQuery(table) {
  Sentry.withScope((scope) => {
    scope.setFingerprint(['database-timeout']);
    try { queryDatabase(table); } catch (err) { Sentry.captureException(err); }
  });
}

site('parse-config#0', 'parse-config', parseConfig, { port: '80' });
site('parse-config#1', 'parse-config', parseConfig, { port: null });
site('parse-config#2', 'parse-config', parseConfig, { port: 'http' });
site('charge-card#0', 'charge-card', chargeCard, 1234);
site('charge-card#1', 'charge-card', chargeCard, 98765);
site('charge-card#2', 'charge-card', chargeCard, 7);
const indexIntoTen = (i) => computeIndex(i, 10);
site('compute-index#0', 'compute-index', indexIntoTen, 12);
site('compute-index#1', 'compute-index', indexIntoTen, 4096);
site('chained#0', 'chained', checkout, 'u-1');
site('chained#1', 'chained', checkout, 'u-2');
site('anonymous#0', 'anonymous-callback', validateItems, [1, -2]);
site('anonymous#1', 'anonymous-callback', validateItems, [-9]);
site('async#0', 'async', fetchOrders, 'alice');
site('async#1', 'async', fetchOrders, 'bob');
site('message#0', 'user-not-found', message, 'user 42 not found');
site('message#1', 'user-not-found', message, 'user 31337 not found');
site('message#2', 'gateway-502', gateway, 123);
site('message#3', 'gateway-502', gateway, 987);
site('fingerprint#0', 'db-timeout', timedOutQuery, 'orders');
site('fingerprint#1', 'db-timeout', timedOutQuery, 'users');

for (const r of runs) {
  const before = captured.length;
  await run(r.fn, r.arg);
  await Sentry.flush(2000);
  if (captured.length !== before + 1) throw new Error(`${r.label}: captured ${captured.length - before} events`);
  const ev = captured.at(-1);
  process.stdout.write(JSON.stringify({ label: r.label, group: 'node/' + r.group, event: ev }) + '\n');
}
