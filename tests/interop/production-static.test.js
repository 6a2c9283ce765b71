'use strict';
// roomd --static DIR (examples/roomd/static.c): content types, index.html,
// no listings, no way out of DIR (dot segments plain and percent-encoded,
// encoded slashes, symlinks), 404, HEAD, conditional GET, keep-alive.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { roomdSuite, RawHttp, httpOnce, withTimeout, WAIT_MS } = require('./helpers');

const T = { timeout: 15000 };
const SECRET = 'the secret outside the root\n';

// A tree: the root served, and beside it a file that must stay out of reach.
const top = fs.mkdtempSync(path.join(os.tmpdir(), 'roomd-static-'));
const root = path.join(top, 'www');
const files = {
  'index.html': '<!doctype html><title>roomd</title>\n',
  'app.js': 'export const x = 1;\n',
  'mod.mjs': 'export default 2;\n',
  'style.css': 'body { margin: 0 }\n',
  'data.json': '{"a":1}\n',
  'logo.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>\n',
  'pixel.png': '\x89PNG\r\n\x1a\n',
  'notes.txt': 'plain\n',
  'blob.bin': '\x00\x01\x02',
  'a b.txt': 'with a space\n',
  'sub/index.html': '<p>sub</p>\n',
  'empty/.keep': '',
  '.hidden': 'hidden\n',
};
before(() => {
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), text, 'latin1');
  }
  fs.writeFileSync(path.join(top, 'secret.txt'), SECRET);
  fs.symlinkSync(path.join(top, 'secret.txt'), path.join(root, 'out-file'));
  fs.symlinkSync(top, path.join(root, 'out-dir'));
  fs.symlinkSync('../secret.txt', path.join(root, 'out-relative'));
  fs.symlinkSync('app.js', path.join(root, 'in-link.js'));
});
after(() => fs.rmSync(top, { recursive: true, force: true }));

// The raw bytes of one exchange on a connection the server closes
// (Connection: close): for HEAD, whose answer has a Content-Length and no body.
function exchange(port, bytes) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
      const parts = [];
      sock.on('data', (d) => parts.push(d));
      sock.on('end', () => resolve(Buffer.concat(parts).toString('latin1')));
      sock.on('error', reject);
    }),
    WAIT_MS,
    'the server to answer and close',
  );
}

describe('static files', () => {
  const suite = roomdSuite(['--static', root]);
  const get = (p, headers = {}) => httpOnce(suite.roomd.port, 'GET', p, headers);

  it('serves files with their content types, index.html for directories', T, async () => {
    const types = {
      '/index.html': 'text/html; charset=utf-8',
      '/app.js': 'text/javascript; charset=utf-8',
      '/mod.mjs': 'text/javascript; charset=utf-8',
      '/style.css': 'text/css; charset=utf-8',
      '/data.json': 'application/json',
      '/logo.svg': 'image/svg+xml',
      '/pixel.png': 'image/png',
      '/notes.txt': 'text/plain; charset=utf-8',
      '/blob.bin': 'application/octet-stream',
      '/a%20b.txt': 'text/plain; charset=utf-8',
      '/in-link.js': 'text/javascript; charset=utf-8',
      '/': 'text/html; charset=utf-8',
      '/sub/': 'text/html; charset=utf-8',
    };
    for (const [p, type] of Object.entries(types)) {
      const res = await get(p);
      assert.equal(res.status, 200, p);
      assert.equal(res.headers['content-type'], type, p);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      const name = p === '/' ? 'index.html' : p === '/sub/' ? 'sub/index.html' : p === '/in-link.js' ? 'app.js' : decodeURIComponent(p.slice(1));
      assert.equal(res.body.toString('latin1'), files[name], p);
      assert.equal(Number(res.headers['content-length']), Buffer.byteLength(files[name], 'latin1'));
    }
    // A directory without its slash is sent to it (relative links work there).
    const moved = await get('/sub?x=1');
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.location, '/sub/?x=1');
  });

  it('lists no directory and answers 404 for what is missing', T, async () => {
    for (const p of ['/empty/', '/nope.html', '/sub/nope', '/app.js/x', '/index.html/']) {
      const res = await get(p);
      assert.equal(res.status, 404, p);
      assert.doesNotMatch(res.body.toString(), /\.keep|index\.html/);
    }
  });

  it('never leaves the root: dot segments, encoded or not, encoded slashes, symlinks, hidden files', T, async () => {
    const escapes = [
      '/../secret.txt',
      '/sub/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E/secret.txt',
      '/.%2e/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/sub%2f..%2f..%2fsecret.txt',
      '/sub/..%2F..%2Fsecret.txt',
      '/..%5csecret.txt',
      '/%252e%252e/secret.txt',
      '/out-file',
      '/out-relative',
      '/out-dir/secret.txt',
      '/out-dir/',
      '/.hidden',
      '/%2ehidden',
      '/./index.html',
      '/index.html%00.txt',
    ];
    for (const p of escapes) {
      const res = await get(p);
      assert.equal(res.status, 404, `${p}: ${res.status}`);
      assert.ok(!res.body.toString().includes('secret'), p);
    }
    // Bad percent-encoding is a bad request.
    for (const p of ['/%zz', '/%2', '/a%']) assert.equal((await get(p)).status, 400, p);
  });

  it('answers HEAD with the GET head and no body', T, async () => {
    const got = await get('/app.js');
    const text = await exchange(
      suite.roomd.port,
      'HEAD /app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const [head, body] = text.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, new RegExp(`\r\nContent-Length: ${files['app.js'].length}\r\n`));
    assert.match(head, /\r\nContent-Type: text\/javascript; charset=utf-8\r\n/);
    assert.ok(head.includes(`\r\nETag: ${got.headers.etag}\r\n`));
    assert.equal(body, '');
    const missing = await exchange(suite.roomd.port, 'HEAD /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(missing, /^HTTP\/1\.1 404 /);
    assert.equal(missing.split('\r\n\r\n')[1], '');
  });

  it('answers a conditional GET with 304 while the ETag holds, 200 once the file changed', T, async () => {
    const first = await get('/style.css');
    const etag = first.headers.etag;
    assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/);
    assert.ok(first.headers['last-modified']);
    assert.equal(first.headers['cache-control'], 'no-cache');
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const res = await get('/style.css', { 'If-None-Match': inm });
      assert.equal(res.status, 304, inm);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers.etag, etag);
      assert.ok(!('content-length' in res.headers));
    }
    assert.equal((await get('/style.css', { 'If-None-Match': '"other"' })).status, 200);
    fs.writeFileSync(path.join(root, 'style.css'), 'body { margin: 1px }\n');
    const changed = await get('/style.css', { 'If-None-Match': etag });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.etag, etag);
    assert.equal(changed.body.toString(), 'body { margin: 1px }\n');
  });

  it('takes GET and HEAD only; keeps the connection alive and answers pipelined requests in order', T, async () => {
    const res = await httpOnce(suite.roomd.port, 'DELETE', '/app.js');
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET, HEAD');
    const c = await RawHttp.open(suite.roomd.port);
    try {
      c.send(Buffer.concat([RawHttp.request('GET', '/app.js'), RawHttp.request('GET', '/nope'), RawHttp.request('GET', '/data.json')]));
      const a = await c.response();
      const b = await c.response();
      const d = await c.response();
      assert.deepEqual([a.status, b.status, d.status], [200, 404, 200]);
      assert.equal(d.body.toString(), files['data.json']);
      c.send(RawHttp.request('GET', '/notes.txt'));
      assert.equal((await c.response()).body.toString(), files['notes.txt']);
    } finally {
      c.close();
    }
  });

  it('leaves the mounts, /healthz and /metrics to themselves', T, async () => {
    assert.equal((await get('/healthz')).body.toString(), 'ok\n');
    assert.match((await get('/metrics')).body.toString(), /^# HELP /);
    const poll = await get('/socket.io/?EIO=4&transport=polling');
    assert.equal(poll.status, 200);
    assert.match(poll.body.toString(), /^0\{"sid":/);
  });
});

describe('without --static', () => {
  const suite = roomdSuite([]);
  it('serves no files', T, async () => {
    const res = await httpOnce(suite.roomd.port, 'GET', '/index.html');
    assert.equal(res.status, 400);
    assert.equal((await httpOnce(suite.roomd.port, 'GET', '/healthz')).status, 200);
  });
});
