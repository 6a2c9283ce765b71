'use strict';
// The demo page (examples/web/, served by roomd --static as examples/demo.sh
// does) in a real headless Chromium, once per client it can use (the stock
// socket.io-client and room-client.js on /ws): two users, the first with
// two tabs. They join
// a room, the member list shows two users (not three), typing shows on the
// other user's page and goes away by itself, messages go both ways, the
// room's shared Yjs note (roomd's /yjs/ mount) syncs, and a reload shows
// the room's history and the note. Screenshots of every page go to
// $DEMO_SCREENSHOTS (meson: <build>/meson-logs/browser-demo/).
//
// Chromium as in cors.test.js: $CHROMIUM, or chromium / chromium-browser on
// the PATH; the test fails without it.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const { startRoomd, withTimeout, cuttingProxy } = require('../interop/helpers');
const { newProfile, launchChromium, closeChromium } = require('./chromium');

const T = { timeout: 120000 };
const WEB = path.join(__dirname, '..', '..', 'examples', 'web');
const SHOTS = process.env.DEMO_SCREENSHOTS || path.join(os.tmpdir(), 'libroom-demo-screenshots');
// Every wait for the page is bounded by this: generous, since CI may run
// it beside the sanitizer builds on two cores.
const WAIT = 20000;
const TYPING_MS = 1000;


describe('the demo page in Chromium: two users, three tabs', () => {
  let browser = null;
  let profile = null;
  let roomd = null;
  const pages = [];

  before(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    // What examples/demo.sh runs, but on a free port and with typing
    // expiring sooner.
    profile = newProfile();
    roomd = await startRoomd([
      '--static', WEB,
      '--data', path.join(profile, 'demo.db'),
      '--presence',
      '--typing-ms', String(TYPING_MS),
      '--recovery-ms', '10000',
      '--history', '100',
    ]);
    browser = await launchChromium(profile);
  });

  after(async () => {
    for (const p of pages) await p.close().catch(() => {});
    // The profile goes last: roomd's --data file is in it.
    await closeChromium(browser, null);
    if (roomd) {
      const exit = await roomd.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, roomd.stderr());
    }
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
  });

  it('serves the page and its modules, and the vendored modules are the pinned npm packages\' files, unchanged', T, async () => {
    const get = async (p) => {
      const res = await withTimeout(fetch(`${roomd.url}${p}`), WAIT, `GET ${p}`);
      return { type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()), status: res.status };
    };
    for (const [p, type] of [['/', /^text\/html/], ['/app.js', /^text\/javascript/], ['/room-client.js', /^text\/javascript/], ['/note.js', /^text\/javascript/], ['/style.css', /^text\/css/], ['/vendor/yjs/dist/yjs.mjs', /^text\/javascript/]]) {
      const res = await get(p);
      assert.equal(res.status, 200, p);
      assert.match(res.type, type, p);
    }
    // What examples/web/vendor/vendor.mjs would copy and write.
    const { plan, importMapOf } = await import(pathToFileURL(path.join(WEB, 'vendor', 'vendor.mjs')).href);
    const { copies, importMap, packages } = plan();
    for (const { from, to } of copies) {
      assert.ok(fs.readFileSync(to).equals(fs.readFileSync(from)), `${path.relative(WEB, to)} is not ${from}: run node examples/web/vendor/vendor.mjs`);
    }
    assert.deepEqual(importMapOf(fs.readFileSync(path.join(WEB, 'index.html'), 'utf8')), importMap);
    const served = (await get('/vendor/socket.io.esm.min.js')).body;
    assert.ok(served.equals(fs.readFileSync(path.join(WEB, 'vendor', 'socket.io.esm.min.js'))));
    // The versions the vendor README names are those pinned.
    const readme = fs.readFileSync(path.join(WEB, 'vendor', 'README.md'), 'utf8');
    for (const [name, { version }] of packages) assert.match(readme, new RegExp(`\\| \`${name}\` \\| ${version.replace(/\./g, '\\.')} \\|`), name);
  });

  // A tab of a user (a browser context: one localStorage, so one user id).
  // The page from roomd itself (--static), or through `via` (a proxy).
  async function open(context, query, via = roomd.url) {
    const page = await context.newPage();
    pages.push(page);
    await page.setViewport({ width: 1200, height: 800 });
    page.log = [];
    page.on('console', (m) => page.log.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => page.log.push(`pageerror: ${e.message}`));
    page.on('response', (r) => r.status() >= 400 && page.log.push(`http: ${r.status()} ${r.url()}`));
    page.on('dialog', (d) => {
      page.log.push(`dialog: ${d.message()}`);
      d.dismiss().catch(() => {});
    });
    await page.goto(`${via}/?${new URLSearchParams(query)}`, { timeout: WAIT });
    return page;
  }

  // Waits for fn (run in the page) to be true, re-checked on DOM changes;
  // on timeout the error says what the page shows and logged.
  async function waitFor(page, what, fn, ...args) {
    try {
      await page.waitForFunction(fn, { timeout: WAIT, polling: 'mutation' }, ...args);
    } catch (err) {
      const shown = await page.evaluate(() => document.body.innerText).catch(() => '?');
      throw new Error(`${what}: ${err.message}\n--- page:\n${shown}\n--- console:\n${page.log.join('\n')}`);
    }
  }

  const state = (page) =>
    page.evaluate(() => ({
      status: document.getElementById('status').dataset.state,
      members: [...document.querySelectorAll('#members li')].map((li) => li.dataset.user),
      names: [...document.querySelectorAll('#members li')].map((li) => li.firstChild.textContent),
      messages: [...document.querySelectorAll('#messages li')].map((li) => li.querySelector('.text').textContent),
      typing: document.getElementById('typing').textContent,
    }));

  const memberCount = (page, n) =>
    waitFor(page, `${n} members`, (n) => document.querySelectorAll('#members li').length === n, n);
  const hasMessage = (page, text) =>
    waitFor(page, `message "${text}"`, (text) => [...document.querySelectorAll('#messages .text')].some((e) => e.textContent === text), text);

  async function shoot(page, name) {
    const file = path.join(SHOTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  }

  async function say(page, text) {
    await page.type('#text', text);
    await page.keyboard.press('Enter');
  }

  for (const [transport, label] of [['sio', 'socket.io-client'], ['ws', 'room-client.js on /ws']]) {
    it(`chat, presence, typing and history through ${label}`, T, async (t) => {
      const room = `lobby-${transport}`;
      const alice = await browser.createBrowserContext();
      const bob = await browser.createBrowserContext();
      try {
        const a1 = await open(alice, { name: 'Alice', transport, room });
        const b = await open(bob, { name: 'Bob', transport, room });
        const a2 = await open(alice, { name: 'Alice', transport, room });
        for (const p of [a1, b, a2]) {
          await waitFor(p, 'connected', () => document.getElementById('status').dataset.state === 'connected');
          await memberCount(p, 2);
        }
        // The radio button shows the client in use.
        assert.equal(await a1.$eval('input[name=transport]:checked', (e) => e.value), transport);

        // Two users, not three: Alice's two tabs are one member, with one id.
        const sa1 = await state(a1);
        const sb = await state(b);
        assert.deepEqual(sa1.names, ['Alice', 'Bob']);
        assert.deepEqual(sb.names, ['Alice', 'Bob']);
        assert.deepEqual((await state(a2)).members, sa1.members);
        assert.equal(new Set(sb.members).size, 2);

        // Alice types: Bob sees it, then it expires by itself (--typing-ms).
        await a1.type('#text', 'hello');
        await waitFor(b, 'Alice typing', () => document.getElementById('typing').textContent === 'Alice is typing…');
        await shoot(b, `${transport}-bob-sees-typing`);
        assert.equal((await state(a2)).typing, '', 'the typist\'s other tab shows no typing');
        const shown = Date.now();
        await waitFor(b, 'typing to expire', () => document.getElementById('typing').textContent === '');
        assert.ok(Date.now() - shown < TYPING_MS + 3000, 'expired within typing-ms and some slack');

        // Messages both ways; every tab of Alice gets them.
        await a1.keyboard.press('Enter');
        await hasMessage(b, 'hello');
        await say(b, 'hi Alice');
        for (const p of [a1, a2]) await hasMessage(p, 'hi Alice');
        await hasMessage(a2, 'hello');
        // The room's shared Yjs note (roomd's /yjs/ mount): Alice writes,
        // Bob and her other tab see it.
        const NOTE = 'agenda: ship the demo';
        const noteSynced = (p) => waitFor(p, 'the note to load', () => document.getElementById('note-status').dataset.state === 'synced');
        const noteSays = (p, text) => waitFor(p, `the note to say "${text}"`, (text) => document.getElementById('note').value === text, text);
        for (const p of [a1, a2, b]) await noteSynced(p);
        await a1.type('#note', NOTE);
        await noteSays(b, NOTE);
        await noteSays(a2, NOTE);
        await waitFor(b, 'both editors listed', () => document.getElementById('note-status').textContent === 'Editing now: Alice, Bob');
        for (const [p, who] of [[a1, 'alice-tab1'], [a2, 'alice-tab2'], [b, 'bob']]) {
          t.diagnostic(`screenshot ${await shoot(p, `${transport}-${who}`)}`);
        }

        // Bob reloads: back in the room, with its history.
        await b.reload({ timeout: WAIT });
        await waitFor(b, 'connected after reload', () => document.getElementById('status').dataset.state === 'connected');
        await memberCount(b, 2);
        await hasMessage(b, 'hello');
        await hasMessage(b, 'hi Alice');
        assert.deepEqual((await state(b)).messages, ['hello', 'hi Alice']);
        await noteSynced(b);
        await noteSays(b, NOTE);
        await shoot(b, `${transport}-bob-after-reload`);

        // Alice's first tab flips to the other client and back. roomd keeps
        // Socket.IO's rooms and /ws's apart: there she is alone in the room.
        const other = transport === 'sio' ? 'ws' : 'sio';
        const connectedVia = (via) =>
          waitFor(a1, `connected through ${via}`, (via) => document.getElementById('status').textContent === `connected (${via})`, via);
        // (A tab in the background runs no animation frames, which click() waits for.)
        await a1.bringToFront();
        await a1.click(`input[name=transport][value=${other}]`);
        await connectedVia(other === 'ws' ? '/ws' : 'Socket.IO');
        await memberCount(a1, 1);
        await say(a1, `through ${other}`);
        await hasMessage(a1, `through ${other}`);
        await a1.click(`input[name=transport][value=${transport}]`);
        await connectedVia(transport === 'ws' ? '/ws' : 'Socket.IO');
        await memberCount(a1, 2);
        await hasMessage(a1, 'hi Alice');
        assert.deepEqual((await state(a1)).messages, ['hello', 'hi Alice']);

        // Leaving: Alice's second tab goes, she stays; Bob leaves, Alice sees one member.
        await a2.close();
        await say(b, 'still two of us?');
        await hasMessage(a1, 'still two of us?');
        assert.equal((await state(b)).members.length, 2);
        await b.bringToFront();
        await b.click(`#rooms li[data-room="${room}"] .leave`);
        await memberCount(a1, 1);
        assert.deepEqual((await state(a1)).names, ['Alice']);
        for (const p of [a1, b]) {
          assert.deepEqual(p.log.filter((l) => /^(pageerror|error|http|dialog):/.test(l)), [], `errors in the page:\n${p.log.join('\n')}`);
        }
      } finally {
        await alice.close().catch(() => {});
        await bob.close().catch(() => {});
      }
    });

    it(`a page cut off from the server through ${label} comes back by itself with what it missed`, T, async () => {
      const room = `cut-${transport}`;
      const proxy = await cuttingProxy(roomd.port);
      const alice = await browser.createBrowserContext();
      const bob = await browser.createBrowserContext();
      try {
        const a = await open(alice, { name: 'Alice', transport, room }, proxy.url);
        const b = await open(bob, { name: 'Bob', transport, room });
        for (const p of [a, b]) await memberCount(p, 2);
        await say(b, 'before the cut');
        await hasMessage(a, 'before the cut');

        proxy.hold();
        await proxy.cut();
        await waitFor(a, 'the page to notice', () => document.getElementById('status').dataset.state !== 'connected');
        await say(b, 'while you were away');
        await hasMessage(b, 'while you were away');
        proxy.release();
        await waitFor(a, 'reconnected', () => document.getElementById('status').dataset.state === 'connected');
        await hasMessage(a, 'while you were away');
        await memberCount(a, 2);
        await say(a, 'back');
        for (const p of [a, b]) await hasMessage(p, 'back');
        // Each message once, in order: the session was resumed, not replayed twice.
        assert.deepEqual((await state(a)).messages, ['before the cut', 'while you were away', 'back']);
        await shoot(a, `${transport}-alice-after-cut`);
      } finally {
        await alice.close().catch(() => {});
        await bob.close().catch(() => {});
        await proxy.close();
      }
    });
  }
});
