'use strict';
// A real browser: Debian's headless Chromium, driven by puppeteer-core, loads
// a page from another loopback origin (a static server of this test) that
// uses the stock socket.io-client bundle with its default options (polling,
// then the upgrade to WebSocket). roomd --allow-origin lets the page's
// origin in: the page round-trips a message. A page from an origin that is
// not allowed sees a clean CORS failure: connect_error, never a connection.
//
// Chromium: $CHROMIUM, or `chromium` / `chromium-browser` on the PATH
// (tests/deps.sh installs Debian's). Without it the test fails: it does not
// skip.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');

const interop = path.join(__dirname, '..', 'interop');
const { startRoomd } = require('../interop/helpers');
const { newProfile, launchChromium, closeChromium, listenOnLoopback } = require('./chromium');

const T = { timeout: 60000 };
const BUNDLE = path.join(interop, 'node_modules', 'socket.io-client', 'dist', 'socket.io.min.js');


// The page: connects with io(server) and no options, joins a room, sends
// to it, and reports what happened in window.report.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>libroom browser test</title>
<script src="/socket.io.min.js"></script>
<script>
  window.report = { connects: 0, errors: [], transports: [], messages: [] };
  const server = new URLSearchParams(location.search).get('server');
  const socket = io(server);
  // The manager opens its Engine.IO socket at once: the first transport.
  report.transports.push(socket.io.engine.transport.name);
  socket.io.engine.on('upgrade', (transport) => report.transports.push(transport.name));
  socket.on('connect', () => {
    report.connects++;
    socket.emit('join', 'page');
    socket.emit('send', 'page', 'hello from ' + location.origin);
  });
  socket.on('msg', (m) => report.messages.push(m));
  socket.on('connect_error', (err) => report.errors.push(String(err && err.message)));
</script>`;

// A static server on 127.0.0.1: the page and the client bundle.
function staticServer() {
  const bundle = fs.readFileSync(BUNDLE);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (url.pathname === '/socket.io.min.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
  return listenOnLoopback(server);
}

describe('a browser page from another origin, default client options', () => {
  let browser = null;
  let profile = null;
  let allowed = null;
  let refused = null;
  let roomd = null;

  before(async () => {
    allowed = await staticServer();
    refused = await staticServer();
    roomd = await startRoomd(['--protocol', 'bench', '--allow-origin', allowed.origin]);
    profile = newProfile();
    browser = await launchChromium(profile);
  });

  after(async () => {
    await closeChromium(browser, profile);
    for (const s of [allowed, refused]) if (s) s.close();
    if (roomd) {
      const exit = await roomd.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, roomd.stderr());
    }
  });

  async function visit(site) {
    const page = await browser.newPage();
    page.log = [];
    page.on('console', (m) => page.log.push(m.text()));
    page.on('pageerror', (e) => page.log.push(`pageerror: ${e.message}`));
    await page.goto(`${site.origin}/?server=${encodeURIComponent(roomd.url)}`, { timeout: 10000 });
    return page;
  }

  it('the allowed origin connects over polling, upgrades, and round-trips a message', T, async () => {
    const page = await visit(allowed);
    try {
      await page.waitForFunction(
        () => window.report.messages.length > 0 && window.report.transports.includes('websocket'),
        { timeout: 10000, polling: 50 },
      ).catch(async (err) => {
        throw new Error(`${err.message}: ${JSON.stringify(await page.evaluate(() => window.report))} ${page.log.join('\n')}`);
      });
      const report = await page.evaluate(() => window.report);
      assert.equal(report.connects, 1, JSON.stringify(report));
      assert.deepEqual(report.errors, []);
      assert.deepEqual(report.transports, ['polling', 'websocket']);
      assert.deepEqual(report.messages, [`hello from ${allowed.origin}`]);
    } finally {
      await page.close();
    }
  });

  it('an origin not allowed sees connect_error (a CORS failure) and never connects', T, async () => {
    const page = await visit(refused);
    try {
      await page.waitForFunction(() => window.report.errors.length >= 2, { timeout: 15000, polling: 50 }).catch(async (err) => {
        throw new Error(`${err.message}: ${JSON.stringify(await page.evaluate(() => window.report))}`);
      });
      const report = await page.evaluate(() => window.report);
      assert.equal(report.connects, 0, JSON.stringify(report));
      assert.deepEqual(report.messages, []);
      // All the page is told: the browser hides the response.
      assert.equal(report.errors[0], 'xhr poll error');
      // Chromium says why, in the console.
      assert.ok(
        page.log.some((l) => /CORS policy/.test(l)),
        `no CORS message in the console:\n${page.log.join('\n')}`,
      );
    } finally {
      await page.close();
    }
  });
});
