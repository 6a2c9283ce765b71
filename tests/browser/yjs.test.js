'use strict';
// A real browser: Debian's headless Chromium, driven by puppeteer-core,
// loads a page with two editors (textareas), each bound to its own Y.Doc
// and the stock y-websocket provider on roomd's /yjs/<room>. The page
// imports the packages' own ES modules from tests/interop/node_modules
// through an import map (no build step). Keys typed into both editors, and
// edits made in both at once, converge in both.
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
const modules = path.join(interop, 'node_modules');
const { startRoomd } = require('../interop/helpers');
const { newProfile, launchChromium, closeChromium, listenOnLoopback } = require('./chromium');

const T = { timeout: 60000 };


// Bare specifiers to the packages' browser ES modules; "lib0/x" and
// "y-protocols/x" are files x.js (the server adds the extension).
const IMPORTS = {
  yjs: '/m/yjs/dist/yjs.mjs',
  'y-websocket': '/m/y-websocket/src/y-websocket.js',
  'lib0/': '/m/lib0/',
  'y-protocols/': '/m/y-protocols/',
};

// Two editors on the Y.Text "t" of one room. A textarea's edit becomes the
// Y.Text change between the old and the new value (common prefix and
// suffix); a remote change rewrites the textarea.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>libroom y-websocket</title>
<script type="importmap">${JSON.stringify({ imports: IMPORTS })}</script>
<textarea id="a"></textarea>
<textarea id="b"></textarea>
<script type="module">
  import * as Y from 'yjs';
  import { WebsocketProvider } from 'y-websocket';
  const params = new URLSearchParams(location.search);
  window.report = { synced: [], errors: [] };
  window.editors = {};
  for (const id of ['a', 'b']) {
    const doc = new Y.Doc();
    const text = doc.getText('t');
    const area = document.getElementById(id);
    // disableBc: the two providers of this page must talk through roomd.
    const provider = new WebsocketProvider(params.get('server'), params.get('room'), doc, { disableBc: true });
    provider.on('sync', (s) => s && report.synced.push(id));
    let value = '';
    area.addEventListener('input', () => {
      const next = area.value;
      let p = 0;
      while (p < value.length && p < next.length && value[p] === next[p]) p++;
      let s = 0;
      while (s < value.length - p && s < next.length - p && value[value.length - 1 - s] === next[next.length - 1 - s]) s++;
      doc.transact(() => {
        if (value.length - p - s) text.delete(p, value.length - p - s);
        if (next.length - p - s) text.insert(p, next.slice(p, next.length - s));
      }, 'local');
      value = next;
    });
    text.observe((e) => {
      if (e.transaction.origin === 'local') return;
      value = text.toString();
      area.value = value;
    });
    editors[id] = { doc, text, provider };
  }
  window.both = (sa, sb) => {
    editors.a.text.insert(0, sa);
    editors.b.text.insert(editors.b.text.length, sb);
  };
  window.values = () => [document.getElementById('a').value, document.getElementById('b').value,
                         editors.a.text.toString(), editors.b.text.toString()];
</script>`;

const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript' };

// The page and the modules, from one loopback origin.
function staticServer() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    if (url.pathname.startsWith('/m/')) {
      const rel = path.normalize(decodeURIComponent(url.pathname.slice(3)));
      if (!rel.startsWith('..')) {
        for (const file of [path.join(modules, rel), path.join(modules, rel) + '.js']) {
          if (fs.existsSync(file) && fs.statSync(file).isFile()) {
            res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'text/plain' });
            fs.createReadStream(file).pipe(res);
            return;
          }
        }
      }
    }
    res.writeHead(404).end();
  });
  return listenOnLoopback(server);
}

describe('a browser page with two editors on one Y.Text through roomd', () => {
  let browser = null;
  let profile = null;
  let site = null;
  let roomd = null;

  before(async () => {
    site = await staticServer();
    roomd = await startRoomd();
    profile = newProfile();
    browser = await launchChromium(profile);
  });

  after(async () => {
    await closeChromium(browser, profile);
    if (site) site.close();
    if (roomd) {
      const exit = await roomd.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, roomd.stderr());
    }
  });

  it('typing in both editors, and editing both at once, converges', T, async () => {
    const page = await browser.newPage();
    const log = [];
    page.on('console', (m) => log.push(m.text()));
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    const server = `ws://127.0.0.1:${roomd.port}/yjs`;
    try {
      await page.goto(`${site.origin}/?server=${encodeURIComponent(server)}&room=page`, { timeout: 10000 });
      const converged = (want) =>
        page.waitForFunction((w) => {
          const v = window.values();
          return v.every((x) => x === v[0]) && w.every((s) => v[0].includes(s));
        }, { timeout: 10000, polling: 50 }, want).catch(async (err) => {
          throw new Error(`${err.message}: ${JSON.stringify(await page.evaluate(() => window.values()))}\n${log.join('\n')}`);
        });
      await page.waitForFunction(() => window.report && window.report.synced.length === 2,
        { timeout: 10000, polling: 50 }).catch((err) => {
        throw new Error(`${err.message}\n${log.join('\n')}`);
      });
      await page.type('#a', 'hello from a. ');
      await converged(['hello from a. ']);
      await page.click('#b');
      await page.keyboard.press('End');
      await page.type('#b', 'and from b.');
      await converged(['hello from a. and from b.']);
      // Both documents change before either hears of the other's change.
      await page.evaluate(() => window.both('[A first] ', ' [B last]'));
      await converged(['[A first] ', ' [B last]', 'hello from a. ']);
      const [a] = await page.evaluate(() => window.values());
      assert.equal(a, '[A first] hello from a. and from b. [B last]');
    } finally {
      await page.close();
    }
  });
});
