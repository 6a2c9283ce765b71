'use strict';
// roomd's y-websocket mount (/yjs/<room>) against the stock `yjs` and
// `y-websocket` packages, unchanged: documents converge, joiners and
// reconnecting clients get everything, awareness comes and goes, compaction
// loses nothing, a big document loads fast. Every provider has disableBc:
// two providers in one process would otherwise sync through
// BroadcastChannel without the server, and a broken server would look fine.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Y = require('yjs');
const { WebsocketProvider } = require('y-websocket');
const WebSocket = require('ws');
const { startRoomd, withTimeout, sleep } = require('./helpers');

const T = { timeout: 60000 };
// Each provider listens for the process's exit.
process.setMaxListeners(100);

// Polls `cond` every 20 ms until it holds, at most `ms`.
async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

function client(server, room, opts = {}) {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`ws://127.0.0.1:${server.port}/yjs`, room, doc, {
    WebSocketPolyfill: WebSocket,
    disableBc: true,
    ...opts,
  });
  return { doc, provider };
}

const synced = (c, ms = 5000) =>
  withTimeout(new Promise((resolve) => (c.provider.synced ? resolve() : c.provider.once('sync', resolve))), ms, 'sync');

const text = (c) => c.doc.getText('t').toString();
const array = (c) => JSON.stringify(c.doc.getArray('a').toArray());
const state = (c) => Buffer.from(Y.encodeStateAsUpdate(c.doc));
const sameDoc = (a, b) => text(a) === text(b) && array(a) === array(b);

// The provider gone as if its machine vanished: no goodbye, no reconnect.
function drop(c) {
  c.provider.shouldConnect = false;
  c.provider.ws.terminate();
  c.provider.destroy();
}

describe('y-websocket at /yjs/', () => {
  let server;
  const clients = [];
  const open = (room, opts) => {
    const c = client(server, room, opts);
    clients.push(c);
    return c;
  };

  before(async () => {
    // --no-rate-limit: these clients write thousands of updates at once.
    server = await startRoomd(['--yjs-compact-bytes', '65536', '--no-rate-limit']);
  });
  after(async () => {
    // The doc too: its awareness has a timer of its own.
    for (const c of clients) {
      c.provider.destroy();
      c.doc.destroy();
    }
    const exit = await server.stop();
    assert.equal(exit.code, 0, server.stderr());
  });

  it('two clients editing a Y.Text and a Y.Array at once converge', T, async () => {
    const a = open('converge');
    const b = open('converge');
    await Promise.all([synced(a), synced(b)]);
    for (let i = 0; i < 50; i++) {
      a.doc.getText('t').insert(0, `a${i} `);
      b.doc.getText('t').insert(b.doc.getText('t').length, `b${i} `);
      a.doc.getArray('a').push([`a${i}`]);
      b.doc.getArray('a').insert(0, [`b${i}`]);
    }
    await until(() => sameDoc(a, b) && a.doc.getArray('a').length === 100, 5000, 'convergence');
    assert.equal(a.doc.getText('t').length, b.doc.getText('t').length);
    assert.match(text(a), /a49 /);
    assert.match(text(a), /b49 /);
  });

  it('a late joiner gets the whole document, then is synced', T, async () => {
    const a = open('late');
    await synced(a);
    a.doc.getText('t').insert(0, 'first ');
    a.doc.getArray('a').push([1, 2, 3]);
    a.doc.getText('t').insert(6, 'second');
    await sleep(100);
    const late = open('late');
    await synced(late);
    // Synced means everything: no wait after the sync event.
    assert.equal(text(late), 'first second');
    assert.equal(array(late), '[1,2,3]');
  });

  it('a client that was offline reconnects and merges both ways', T, async () => {
    const a = open('offline');
    const b = open('offline');
    await Promise.all([synced(a), synced(b)]);
    a.doc.getText('t').insert(0, 'shared ');
    await until(() => text(b) === 'shared ', 3000, 'the first edit');
    b.provider.disconnect();
    b.doc.getText('t').insert(b.doc.getText('t').length, 'offline-b ');
    a.doc.getText('t').insert(0, 'online-a ');
    await sleep(200);
    assert.doesNotMatch(text(a), /offline-b/);
    b.provider.connect();
    await until(() => sameDoc(a, b) && /offline-b/.test(text(a)) && /online-a/.test(text(b)), 5000,
      'the merge');
    // A client that comes later sees the merge too.
    const c = open('offline');
    await synced(c);
    assert.equal(text(c), text(a));
  });

  it('awareness states appear, change and disappear, a dropped client\'s within seconds', T, async () => {
    const a = open('aware');
    const b = open('aware');
    await Promise.all([synced(a), synced(b)]);
    a.provider.awareness.setLocalState({ user: { name: 'Ada' }, cursor: null });
    await until(() => b.provider.awareness.getStates().get(a.doc.clientID)?.user?.name === 'Ada', 3000,
      'a\'s state at b');
    a.provider.awareness.setLocalStateField('user', { name: 'Ada L.' });
    await until(() => b.provider.awareness.getStates().get(a.doc.clientID)?.user?.name === 'Ada L.', 3000,
      'a\'s new state at b');
    assert.equal(b.provider.awareness.getStates().get(a.doc.clientID).cursor, null);

    // A joiner queries nothing: the server tells it every state it keeps.
    const c = open('aware');
    await synced(c);
    c.provider.ws.send(Buffer.from([3])); // query-awareness
    await until(() => c.provider.awareness.getStates().get(a.doc.clientID)?.user?.name === 'Ada L.', 3000,
      'the answer to query-awareness');

    // A clean leave: the client's own removal.
    c.provider.awareness.setLocalState({ user: { name: 'Cy' } });
    await until(() => a.provider.awareness.getStates().has(c.doc.clientID), 3000, 'c at a');
    c.provider.disconnect();
    await until(() => !a.provider.awareness.getStates().has(c.doc.clientID), 3000, 'c gone at a');

    // A drop: the server removes the state for it, well before the
    // client-side 30 s timeout.
    const t0 = Date.now();
    drop(a);
    await until(() => !b.provider.awareness.getStates().has(a.doc.clientID), 3000, 'a gone at b');
    console.log(`# a dropped client's awareness was removed after ${Date.now() - t0} ms`);
  });

  it('compaction under concurrent edits loses nothing', T, async () => {
    // --yjs-compact-bytes 65536: these edits pass it several times.
    const writers = [open('compact'), open('compact'), open('compact')];
    await Promise.all(writers.map((c) => synced(c)));
    const filler = 'x'.repeat(200);
    for (let round = 0; round < 40; round++) {
      writers.forEach((w, i) => {
        for (let k = 0; k < 5; k++) {
          w.doc.getText('t').insert(0, `${i}:${round}:${k}${filler}`);
          w.doc.getArray('a').push([`${i}:${round}:${k}`]);
        }
      });
      await sleep(5);
    }
    await until(() => writers.every((w) => sameDoc(w, writers[0]) && w.doc.getArray('a').length === 600),
      10000, 'the writers to converge');
    const late = open('compact');
    await synced(late);
    assert.equal(late.doc.getArray('a').length, 600);
    assert.ok(sameDoc(late, writers[0]), 'the late joiner has the whole document');
    assert.ok(Buffer.compare(state(late), Buffer.alloc(0)) !== 0);

    // The log is compacted: a raw client gets fewer messages than the 1 200
    // updates that were made.
    const messages = await new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/yjs/compact`);
      let n = 0;
      ws.on('message', (data) => {
        n++;
        const b = new Uint8Array(data);
        if (b[0] === 0 && b[1] === 1) { // the sync step 2 that ends the log
          ws.close();
          resolve(n);
        }
      });
      ws.on('error', reject);
    });
    assert.ok(messages < 600, `${messages} messages for 1 200 updates: the log was not compacted`);
  });

  it('a 5 MB document made of thousands of small updates loads in a fresh client well under a second', T, async () => {
    const w = open('big');
    await synced(w);
    const big = (c) => c.doc.getArray('big');
    const size = (c) => big(c).toArray().reduce((n, s) => n + s.length, 0);
    const chunk = 'y'.repeat(1000);
    // 5 000 updates of 1 kB (appends to a Y.Array: Yjs itself takes
    // minutes for as many index-based inserts into one Y.Text).
    for (let i = 0; i < 5000; i++) big(w).push([chunk]);
    assert.equal(size(w), 5e6);
    // The updates have reached the server once a client that joins after
    // them has them all.
    const probe = open('big');
    await synced(probe, 20000);
    assert.equal(big(probe).length, 5000);
    const t0 = process.hrtime.bigint();
    const fresh = open('big');
    await synced(fresh, 5000);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(size(fresh), 5e6);
    console.log(`# a fresh client loaded the 5 MB document (5 000 updates) in ${ms.toFixed(0)} ms`);
    assert.ok(ms < 1000, `${ms} ms`);
  });

  it('a client alone in a room stays connected past the client\'s 30 s timeout', { timeout: 60000 }, async () => {
    const a = open('alone');
    await synced(a);
    // Its local state is null: nothing of its own comes back to it.
    a.provider.awareness.setLocalState(null);
    let closes = 0;
    a.provider.on('connection-close', () => closes++);
    await sleep(33000);
    assert.equal(closes, 0);
    assert.ok(a.provider.wsconnected);
  });

  it('refuses a path without a room and text messages', T, async () => {
    const status = await new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/yjs/`);
      ws.on('unexpected-response', (req, res) => {
        resolve(res.statusCode);
        req.destroy();
      });
      ws.on('error', () => {});
    });
    assert.equal(status, 400);
    const code = await new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/yjs/text`);
      ws.on('open', () => ws.send('hello'));
      ws.on('close', (c) => resolve(c));
      ws.on('error', reject);
    });
    assert.equal(code, 1003);
  });
});

describe('y-websocket with rate limits', () => {
  // The mount has the same per-connection limits as the others: a client
  // past them is closed with 1008 (a dropped update would be lost to it).
  async function flood(args) {
    const server = await startRoomd(args);
    try {
      return await withTimeout(new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/yjs/flood`);
        ws.on('open', () => {
          // 30 empty updates at once (sync message, update, no structs).
          for (let i = 0; i < 30; i++) ws.send(new Uint8Array([0, 2, 2, 0, 0]));
          setTimeout(() => ws.close(1000), 500);
        });
        ws.on('close', (code) => resolve(code));
        ws.on('error', reject);
      }), 5000, 'the flood');
    } finally {
      const exit = await server.stop();
      assert.equal(exit.code, 0, server.stderr());
    }
  }

  it('closes a client past --msg-rate with 1008', T, async () => {
    assert.equal(await flood(['--msg-rate', '5']), 1008);
  });

  it('lets it be with --no-rate-limit', T, async () => {
    assert.equal(await flood(['--msg-rate', '5', '--no-rate-limit']), 1000);
  });
});

describe('y-websocket with --auth-secret', () => {
  const SECRET = 'yjs-test-secret';
  const b64url = (b) => Buffer.from(b).toString('base64url');
  function token(claims) {
    const payload = b64url(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 600, ...claims }));
    return `${payload}.${b64url(crypto.createHmac('sha256', SECRET).update(payload).digest())}`;
  }
  let server;
  before(async () => {
    server = await startRoomd(['--auth-secret', SECRET]);
  });
  after(async () => {
    const exit = await server.stop();
    assert.equal(exit.code, 0, server.stderr());
  });

  // A raw connection: the close code and the first message's bytes.
  function attempt(query) {
    return withTimeout(new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/yjs/doc:1${query}`);
      const got = [];
      ws.on('message', (d) => got.push(new Uint8Array(d)));
      ws.on('close', (code, reason) => resolve({ code, reason: String(reason), got }));
      ws.on('open', () => setTimeout(() => ws.close(1000), 300));
      ws.on('error', reject);
    }), 5000, 'the connection');
  }

  it('lets a token for the room in, with its user', T, async () => {
    const r = await attempt(`?token=${token({ userId: 'u1', name: 'Ada', rooms: ['doc:*', 'doc:1'] })}`);
    assert.equal(r.code, 1000);
    assert.deepEqual([...r.got[0]], [0, 0, 1, 0]); // the server's sync step 1
  });

  it('refuses no token, a bad one and one for other rooms, with permission denied', T, async () => {
    for (const q of ['', '?token=abc.def', `?token=${token({ userId: 'u2', rooms: ['other'] })}`]) {
      const r = await attempt(q);
      assert.equal(r.code, 1008, q);
      assert.equal(r.got.length, 1, q);
      assert.deepEqual([...r.got[0].slice(0, 2)], [2, 0], q); // auth: permission denied
      const reason = Buffer.from(r.got[0].slice(3)).toString();
      assert.equal(reason, r.reason, q);
    }
  });
});

describe('y-websocket across a restart on the same --data file', { skip: !process.env.ROOMD_HAS_DATA && 'roomd has no --data yet' }, () => {
  it('serves the same document', T, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomd-yjs-'));
    const file = path.join(dir, 'rooms.db');
    try {
      let server = await startRoomd(['--data', file]);
      const a = client(server, 'kept');
      await synced(a);
      a.doc.getText('t').insert(0, 'survives a restart');
      a.doc.getArray('a').push(['x']);
      await sleep(300);
      a.provider.destroy();
      a.doc.destroy();
      assert.equal((await server.stop()).code, 0);
      server = await startRoomd(['--data', file]);
      const b = client(server, 'kept');
      await synced(b);
      assert.equal(text(b), 'survives a restart');
      assert.equal(array(b), '["x"]');
      b.provider.destroy();
      b.doc.destroy();
      assert.equal((await server.stop()).code, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
