// Development helper: a tiny fake Sentry/Airbrake server that records every
// request it receives, so we can see (and keep as golden files) exactly what
// the real client SDKs put on the wire.
//
//   CAPTURE_DIR=captures/sentry-node CAPTURE_PORT=8765 node capture-server.mjs
//
// Env: CAPTURE_DIR (required), CAPTURE_PORT (default 0 = any free port),
//      CAPTURE_MAX (keep at most N files, default 6; later requests are still
//      answered), CAPTURE_STATUS (answer this status instead of 200/201, to
//      test client failure handling), CAPTURE_NO_CORS=1 (omit CORS headers).
// Prints {"port":N} on stdout once listening. Each request is saved as
// NNN.json: {method, url, headers, body_base64} (+ body_text, the body as
// printable text after undoing gzip/deflate or raven's base64+zlib, for review).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import zlib from 'node:zlib';

const dir = process.env.CAPTURE_DIR;
if (!dir) { console.error('CAPTURE_DIR is required'); process.exit(2); }
fs.mkdirSync(dir, { recursive: true });
const max = Number(process.env.CAPTURE_MAX ?? 6);
const forcedStatus = Number(process.env.CAPTURE_STATUS || 0);
let seq = 0;

const printable = (b) => { const t = b.toString('utf8'); return /[\x00-\x08\x0e-\x1f\ufffd]/.test(t) ? undefined : t; };
function readable(body, encoding) {
  try {
    if (encoding === 'gzip') return { text: printable(zlib.gunzipSync(body)), decoded: 'gzip' };
    if (encoding === 'deflate') return { text: printable(zlib.inflateSync(body)), decoded: 'deflate' };
    if (/^eJ[A-Za-z0-9+/=]+$/.test(body.toString('latin1'))) { // raven: base64(zlib(json))
      return { text: printable(zlib.inflateSync(Buffer.from(body.toString('latin1'), 'base64'))), decoded: 'base64+zlib' };
    }
  } catch { /* fall through: show the raw body if printable */ }
  return { text: body.length ? printable(body) : undefined };
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    seq++;
    if (seq <= max) {
      const rec = { method: req.method, url: req.url, headers: req.headers, body_base64: body.toString('base64') };
      const { text, decoded } = readable(body, req.headers['content-encoding']);
      if (text !== undefined) rec.body_text = text;
      if (decoded) rec.body_text_decoded_from = decoded;
      fs.writeFileSync(path.join(dir, String(seq).padStart(3, '0') + '.json'), JSON.stringify(rec, null, 2) + '\n');
    }
    console.error(`capture: ${req.method} ${req.url} ${body.length}B`);

    if (!process.env.CAPTURE_NO_CORS) {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', '*');
      res.setHeader('Access-Control-Expose-Headers', 'X-Sentry-Rate-Limits, Retry-After');
    }
    if (req.method === 'OPTIONS') { res.writeHead(204); res.end(); return; }

    const id = crypto.randomUUID().replaceAll('-', '');
    const airbrake = req.url.startsWith('/api/v3/') || req.url.startsWith('/api/v5/');
    const status = forcedStatus || (airbrake && req.url.includes('/notices') ? 201 : 200);
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(airbrake ? { id, url: `http://${req.headers.host}/notices/${id}` } : { id }));
  });
});

server.listen(Number(process.env.CAPTURE_PORT || 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
