// Shared environment contract for the client scripts (see README.md).
export function config() {
  const dsn = process.env.FAULTLINE_DSN;
  if (!dsn) throw new Error('FAULTLINE_DSN is required');
  const u = new URL(dsn);
  return {
    dsn,
    origin: u.origin, // e.g. http://127.0.0.1:8000
    publicKey: decodeURIComponent(u.username),
    projectId: u.pathname.split('/').filter(Boolean).pop(),
    repeat: Number(process.env.FAULTLINE_REPEAT || 2),
    release: process.env.FAULTLINE_RELEASE || undefined,
    environment: process.env.FAULTLINE_ENVIRONMENT || 'test',
  };
}

// The scope data every script sets, so the Go tests can assert it uniformly.
export const USER = { id: 'user-42', email: 'alice@example.com' };
export const TAG = ['feature', 'checkout'];
export const BREADCRUMB = { category: 'checkout', message: 'cart loaded', level: 'info' };
export const MESSAGE = 'faultline e2e message';

// Print the one-line JSON summary and exit 0, or report failure and exit 1.
export function finish(summary, failures) {
  console.log(JSON.stringify({ ...summary, ok: failures.length === 0, failures }));
  if (failures.length) console.error('FAILED:', failures.join('; '));
  process.exit(failures.length ? 1 : 0);
}

export function run(main) {
  main().catch((err) => { console.error(err); process.exit(1); });
}
