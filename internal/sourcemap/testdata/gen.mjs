// Regenerates the source-map fixtures from testdata/app with the real
// esbuild (and sentry-cli for debug ids), then runs each bundle in node to
// record the minified stack traces V8 reports for it. Run it with
// `go generate ./internal/sourcemap/` after `make clients`.
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const clients = path.resolve(here, '../../../e2e/clients');
const require = createRequire(path.join(clients, 'package.json'));
const esbuild = require('esbuild');
const sentryCLI = path.join(clients, 'node_modules/.bin/sentry-cli');
const app = path.join(here, 'app');
const origin = 'http://example.com';

// build bundles an entry of the app as a deploy would, into app/static
// (so that the map names its sources ../src/x.js, as in a real project),
// then moves the output to outfile.
function build(entry, outfile, extra = {}) {
  const tmp = path.join(app, 'static', path.basename(outfile));
  esbuild.buildSync({
    entryPoints: [path.join(app, entry)], bundle: true, minify: true, sourcemap: true, format: 'iife',
    globalName: 'App', outfile: tmp, absWorkingDir: app, logLevel: 'error', ...extra,
  });
  fs.renameSync(tmp, outfile);
  fs.renameSync(tmp + '.map', outfile + '.map');
  fs.rmSync(path.join(app, 'static'), { recursive: true });
}

// The same failures, each through a different path: a throw two calls
// deep in our code, and a throw in a callback called from a dependency.
const cases = [
  { name: 'no-widgets', input: '{}' },
  { name: 'broken-widget', input: '{"widgets":[{"name":"a"},{"name":"b","broken":true}]}' },
];

// run evaluates the files of a fixture as one browser page would load them
// from origin, and records each case's frames oldest first, as an SDK
// sends them.
function run(dir, files) {
  const ctx = vm.createContext({ JSON, Error, TypeError, Array, Object, globalThis: undefined });
  ctx.globalThis = ctx;
  for (const f of files) {
    vm.runInContext(fs.readFileSync(path.join(dir, f), 'utf8'), ctx, { filename: `${origin}/${f}` });
  }
  const out = [];
  for (const c of cases) {
    let err;
    try {
      ctx.App.start(c.input);
    } catch (e) {
      err = e;
    }
    const frames = [];
    for (const line of err.stack.split('\n').slice(1)) {
      const m = /^\s+at (?:(.+?) \()?(.+):(\d+):(\d+)\)?$/.exec(line);
      if (!m || !m[2].startsWith(origin)) continue;
      const fr = { abs_path: m[2], lineno: Number(m[3]), colno: Number(m[4]), in_app: true };
      if (m[1]) fr.function = m[1];
      frames.unshift(fr);
    }
    const ev = { case: c.name, type: err.name, value: err.message, frames };
    const images = [];
    for (const f of files) {
      const id = /\/\/# debugId=([0-9a-f-]+)/.exec(fs.readFileSync(path.join(dir, f), 'utf8'));
      if (id) images.push({ type: 'sourcemap', code_file: `${origin}/${f}`, debug_id: id[1] });
    }
    if (images.length) ev.debug_meta = { images };
    out.push(ev);
  }
  fs.writeFileSync(path.join(dir, 'stacks.json'), JSON.stringify(out, null, 2) + '\n');
}

function fixture(name, make) {
  const dir = path.join(here, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'static'), { recursive: true });
  run(dir, make(dir));
}

// A map with sourcesContent.
fixture('normal', (dir) => {
  build('src/main.js', path.join(dir, 'static/app.min.js'));
  return ['static/app.min.js'];
});

// A map without sourcesContent: the sources are uploaded beside it.
fixture('nocontent', (dir) => {
  build('src/main.js', path.join(dir, 'static/app.min.js'), { sourcesContent: false });
  return ['static/app.min.js'];
});

// The same code built with other minified names (a second deploy).
fixture('rebuilt', (dir) => {
  build('src/main2.js', path.join(dir, 'static/app.min.js'));
  return ['static/app.min.js'];
});

// An index map: a separately built prelude and the application
// concatenated on one line, each with its section.
fixture('index', (dir) => {
  const tmp = fs.mkdtempSync(path.join(dir, 'tmp-'));
  build('src/prelude.js', path.join(tmp, 'prelude.js'), { globalName: 'Prelude' });
  build('src/main.js', path.join(tmp, 'app.js'));
  const code = (f) => fs.readFileSync(path.join(tmp, f), 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '').replace(/\n$/, '');
  const map = (f) => JSON.parse(fs.readFileSync(path.join(tmp, f + '.map'), 'utf8'));
  const prelude = code('prelude.js') + ';';
  if (prelude.includes('\n') || code('app.js').includes('\n')) throw new Error('a part spans lines');
  fs.writeFileSync(path.join(dir, 'static/app.min.js'), prelude + code('app.js') + '\n//# sourceMappingURL=app.min.js.map\n');
  fs.writeFileSync(path.join(dir, 'static/app.min.js.map'), JSON.stringify({
    version: 3, file: 'app.min.js', sections: [
      { offset: { line: 0, column: 0 }, map: map('prelude.js') },
      { offset: { line: 0, column: prelude.length }, map: map('app.js') },
    ],
  }));
  fs.rmSync(tmp, { recursive: true });
  return ['static/app.min.js'];
});

// Debug ids injected by the real sentry-cli, as `sourcemaps inject` does
// before an upload.
fixture('debugid', (dir) => {
  build('src/main.js', path.join(dir, 'static/app.min.js'));
  execFileSync(sentryCLI, ['sourcemaps', 'inject', path.join(dir, 'static')], {
    env: { ...process.env, SENTRY_DISABLE_UPDATE_CHECK: 'true' }, stdio: 'ignore',
  });
  return ['static/app.min.js'];
});
