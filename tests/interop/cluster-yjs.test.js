'use strict';
// Yjs documents across roomd nodes joined by Redis (roomd --redis,
// docs/cluster.md "Room storage") with the stock `yjs` and `y-websocket`
// packages: clients of one document on different nodes converge, a node
// that never served a document (or whose copy is stale) gives its joiner
// the whole of it, a document of several MB crosses in pieces, and
// awareness comes and goes across nodes. Every provider has disableBc: two
// providers in one process would otherwise sync through BroadcastChannel
// without the servers. Starts its own redis-server (Debian package) on
// 127.0.0.1 and a free port, without persistence, and stops it by PID.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const Y = require('yjs');
const { WebsocketProvider } = require('y-websocket');
const WebSocket = require('ws');
const { startRoomd, withTimeout, sleep, REDIS_SERVER, freePort, startRedis } = require('./helpers');

const T = { timeout: 60000 };
process.setMaxListeners(100);

async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

const synced = (c, ms = 5000) =>
  withTimeout(new Promise((resolve) => (c.provider.synced ? resolve() : c.provider.once('sync', resolve))), ms, 'sync');
const text = (c) => c.doc.getText('t').toString();
const array = (c) => JSON.stringify(c.doc.getArray('a').toArray());
const sameDoc = (a, b) => text(a) === text(b) && array(a) === array(b);
const stateOf = (c, other) => c.provider.awareness.getStates().get(other.doc.clientID);

// The provider gone as if its machine vanished: no goodbye, no reconnect.
function drop(c) {
  c.provider.shouldConnect = false;
  c.provider.ws.terminate();
  c.provider.destroy();
}

describe('cluster: y-websocket documents over three nodes', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  let redis;
  let redisPort;
  const nodes = [];
  const clients = [];
  const open = (i, room) => {
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(`ws://127.0.0.1:${nodes[i].port}/yjs`, room, doc, {
      WebSocketPolyfill: WebSocket,
      disableBc: true,
    });
    const c = { doc, provider };
    clients.push(c);
    return c;
  };
  const close = (c) => {
    c.provider.destroy();
    c.doc.destroy();
  };

  before(async () => {
    redisPort = await freePort();
    redis = await startRedis(redisPort);
    for (let i = 0; i < 3; i++)
      nodes.push(await startRoomd(['--redis', `redis://127.0.0.1:${redisPort}`, '--node-id', `y${i}`]));
    // Every node has heard every other (heartbeats go once a second).
    await sleep(1500);
  });
  after(async () => {
    for (const c of clients) close(c);
    for (const n of nodes) if (n.running()) {
      const exit = await n.stop();
      assert.equal(exit.code, 0, n.stderr());
    }
    await redis.stop();
  });

  it('clients on two nodes editing a Y.Text and a Y.Array at once converge', T, async () => {
    const a = open(0, 'converge');
    const b = open(1, 'converge');
    await Promise.all([synced(a), synced(b)]);
    for (let i = 0; i < 50; i++) {
      a.doc.getText('t').insert(0, `a${i} `);
      b.doc.getText('t').insert(b.doc.getText('t').length, `b${i} `);
      a.doc.getArray('a').push([`a${i}`]);
      b.doc.getArray('a').insert(0, [`b${i}`]);
      if (i % 10 === 0) await sleep(5);
    }
    await until(() => sameDoc(a, b) && a.doc.getArray('a').length === 100, 10000, 'convergence');
    assert.match(text(b), /a49 /);
    assert.match(text(a), /b49 /);

    // A joiner on the third node, which never served the document, has all
    // of it when it calls itself synced.
    const c = open(2, 'converge');
    await synced(c);
    assert.ok(sameDoc(c, a), 'the third node gave its joiner the whole document');
    assert.equal(c.doc.getArray('a').length, 100);
    // And its edits reach the others.
    c.doc.getText('t').insert(0, 'from-c ');
    await until(() => /from-c/.test(text(a)) && /from-c/.test(text(b)), 5000, 'c\'s edit elsewhere');
  });

  it('a node whose copy is stale fetches the document again for its next joiner', T, async () => {
    const a = open(0, 'stale');
    const c1 = open(2, 'stale');
    await Promise.all([synced(a), synced(c1)]);
    a.doc.getText('t').insert(0, 'before ');
    await until(() => text(c1) === 'before ', 3000, 'the first edit at node 2');
    // Node 2 has no member left: it stops hearing the room.
    close(c1);
    await sleep(300);
    a.doc.getText('t').insert(7, 'after');
    a.doc.getArray('a').push([1, 2]);
    await sleep(300);
    const c2 = open(2, 'stale');
    await synced(c2);
    assert.equal(text(c2), 'before after');
    assert.equal(array(c2), '[1,2]');
  });

  it('a document of several MB reaches a node that never served it', T, async () => {
    const a = open(0, 'big');
    await synced(a);
    const chunk = 'z'.repeat(1000);
    // 6 000 updates of 1 kB: the answer to the fetch takes a dozen messages.
    for (let i = 0; i < 6000; i++) {
      a.doc.getArray('big').push([chunk]);
      if (i % 500 === 0) await sleep(1);
    }
    // Everything has reached node 0 once a client there has it (it may
    // join before the last updates arrive: they come as relays).
    const probe = open(0, 'big');
    await synced(probe, 20000);
    await until(() => probe.doc.getArray('big').length === 6000, 20000, 'the writer\'s updates at node 0');
    const t0 = Date.now();
    const far = open(1, 'big');
    await synced(far, 20000);
    console.log(`# a 6 MB document crossed to another node and loaded in ${Date.now() - t0} ms`);
    assert.equal(far.doc.getArray('big').length, 6000);
  });

  it('awareness of a client on one node appears on another and goes within seconds of its drop', T, async () => {
    const a = open(0, 'aware');
    const b = open(1, 'aware');
    await Promise.all([synced(a), synced(b)]);
    a.provider.awareness.setLocalState({ user: { name: 'Ada' }, cursor: null });
    await until(() => stateOf(b, a)?.user?.name === 'Ada', 3000, 'a\'s state at b');
    a.provider.awareness.setLocalStateField('user', { name: 'Ada L.' });
    await until(() => stateOf(b, a)?.user?.name === 'Ada L.', 3000, 'a\'s new state at b');
    assert.equal(stateOf(b, a).cursor, null, 'the bytes as a sent them');
    b.provider.awareness.setLocalState({ user: { name: 'Bo' } });
    await until(() => stateOf(a, b)?.user?.name === 'Bo', 3000, 'b\'s state at a');

    // A joiner on a third node is told both without asking.
    const c = open(2, 'aware');
    await synced(c);
    await until(() => stateOf(c, a)?.user?.name === 'Ada L.' && stateOf(c, b)?.user?.name === 'Bo', 3000,
      'the others\' states at the joiner');

    const t0 = Date.now();
    drop(a);
    await until(() => !b.provider.awareness.getStates().has(a.doc.clientID) &&
      !c.provider.awareness.getStates().has(a.doc.clientID), 3000, 'a gone at b and c');
    console.log(`# a dropped client's awareness left the other nodes after ${Date.now() - t0} ms`);
  });

  it('edits made while Redis is away reach the other nodes once it is back', T, async () => {
    const a = open(0, 'outage');
    const b = open(1, 'outage');
    await Promise.all([synced(a), synced(b)]);
    a.doc.getText('t').insert(0, 'shared ');
    await until(() => text(b) === 'shared ', 3000, 'the first edit');
    await redis.stop();
    await sleep(300);
    // Each client's node keeps its edit; the other cannot hear it.
    a.doc.getArray('a').push(['from-a']);
    b.doc.getArray('a').push(['from-b']);
    await sleep(300);
    assert.equal(a.doc.getArray('a').length, 1);
    redis = await startRedis(redisPort);
    // Each node fetches the others' copy of what it serves, and its
    // clients get what they missed.
    await until(() => a.doc.getArray('a').length === 2 && sameDoc(a, b), 10000, 'the copies to merge');
    // A joiner on the third node has everything.
    const c = open(2, 'outage');
    await synced(c);
    assert.ok(sameDoc(c, a));
  });

  it('a node that dies takes its clients\' awareness with it', T, async () => {
    const d = await startRoomd(['--redis', `redis://127.0.0.1:${redisPort}`, '--node-id', 'doomed']);
    await sleep(1500);
    const a = open(0, 'death');
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(`ws://127.0.0.1:${d.port}/yjs`, 'death', doc, {
      WebSocketPolyfill: WebSocket,
      disableBc: true,
    });
    const v = { doc, provider };
    clients.push(v);
    await Promise.all([synced(a), synced(v)]);
    v.provider.awareness.setLocalState({ user: { name: 'Vic' } });
    await until(() => stateOf(a, v)?.user?.name === 'Vic', 3000, 'v\'s state at a');
    v.provider.shouldConnect = false;
    d.proc.kill('SIGKILL');
    await until(() => !d.running(), 5000, 'the node to die');
    await until(() => !a.provider.awareness.getStates().has(v.doc.clientID), 10000, 'v gone at a');
  });
});
