'use strict';
// roomd --protocol sails against the stock Sails client: sails.io.js 1.2.1
// on the socket.io-client 2.0.3 it ships with (Engine.IO v3, which sails
// mode allows by itself), plus raw Socket.IO clients for what sails.io.js
// never sends. Bodies, headers and status codes are those a Sails 1 app
// with the example controller gives (docs/protocol-sails.md). Then two
// roomd nodes joined by a redis-server of the test's own: a leave by id of
// a socket on the other node.
const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const ioV2 = require('socket.io-client-v2');
const sailsIO = require('sails.io.js');
const { roomdSuite, startRoomd, connect: connectV4, withTimeout, sleep, WAIT_MS, REDIS_SERVER, freePort, startRedis } = require('./helpers');

const T = { timeout: 20000 };
const SDK_QUERY = '__sails_io_sdk_version=1.2.1&__sails_io_sdk_platform=node&__sails_io_sdk_language=javascript';


// Records the named server events on a SailsSocket (or a raw v2 socket).
function record(socket, events) {
  socket.got = [];
  socket.waiters = [];
  for (const event of events) {
    socket.on(event, (...args) => {
      socket.got.push({ event, args });
      socket.waiters.splice(0).forEach((w) => w());
    });
  }
  return socket;
}

function connected(socket) {
  if (socket.isConnected && socket.isConnected()) return Promise.resolve(socket);
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.on('connect', () => resolve(socket));
      socket.on('connect_error', (err) => reject(err instanceof Error ? err : new Error(String(err))));
    }),
    WAIT_MS,
    'connect',
  );
}

// Takes the next `event` from the record.
function take(socket, event, ms = WAIT_MS) {
  return withTimeout(
    new Promise((resolve) => {
      const check = () => {
        const i = socket.got.findIndex((e) => e.event === event);
        if (i >= 0) resolve(socket.got.splice(i, 1)[0].args);
        else socket.waiters.push(check);
      };
      check();
    }),
    ms,
    `a "${event}" event`,
  );
}

// socket.request() as the application calls it: resolves with {body, jwr}.
function request(socket, method, url, data) {
  return withTimeout(
    new Promise((resolve) => socket.request({ method, url, data }, (body, jwr) => resolve({ body, jwr }))),
    WAIT_MS,
    `${method} ${url}`,
  );
}
const post = (socket, url, data) => request(socket, 'post', url, data);
const get = (socket, url, data) => request(socket, 'get', url, data);

// A raw v2 emit with an acknowledgement: the ack's arguments.
function emitAck(socket, ...args) {
  return withTimeout(new Promise((resolve) => socket.emit(...args, (...got) => resolve(got))), WAIT_MS, `the ack of ${args[0]}`);
}

const EVENTS = ['hello', 'after', 'message', 'sails:parseError'];

// The SDK augments the socket.io-client module it is given, once, and
// connects io.socket to io.sails.url on the next tick: made by the first
// suite that needs it, once its roomd listens at `url`.
let sdk = null;
function sailsSdk(url) {
  if (!sdk) {
    sdk = sailsIO(ioV2);
    sdk.sails.url = url;
    sdk.sails.environment = 'production'; // its console logging off
    sdk.sails.reconnection = false;
    record(sdk.socket, EVENTS);
  }
  return sdk;
}

describe('roomd --protocol sails with sails.io.js 1.2.1', () => {
  const suite = roomdSuite(['--protocol', 'sails']);
  const open = [];
  let io;
  afterEach(() => {
    for (const s of open.splice(0)) {
      if (!s._raw) s.close();
      else if (s.isConnected()) s.disconnect();
    }
  });
  // A SailsSocket of its own (multiplex off: one Engine.IO session each).
  const sails = async (opts = {}) => {
    const s = record(io.sails.connect(suite.roomd.url, { multiplex: false, ...opts }), EVENTS);
    open.push(s);
    return connected(s);
  };
  const raw = async (query) => {
    const s = record(ioV2(suite.roomd.url, { forceNew: true, reconnection: false, transports: ['websocket'], ...(query !== undefined ? { query } : {}) }), EVENTS);
    open.push(s);
    return connected(s);
  };
  const idOf = (s) => s._raw.id;

  before(() => {
    io = sailsSdk(suite.roomd.url);
  });
  after(() => {
    if (io.socket.isConnected()) io.socket.disconnect();
  });

  it('connects io.socket and answers GET /socketId with its socket id, the Engine.IO sid', T, async () => {
    const s = await connected(io.socket);
    assert.equal(s._raw.io.engine.query.__sails_io_sdk_version, '1.2.1');
    assert.equal(s._raw.io.engine.query.__sails_io_sdk_platform, 'node');
    assert.equal(idOf(s), s._raw.io.engine.id);
    const { body, jwr } = await get(s, '/socketId');
    assert.equal(jwr.statusCode, 200);
    assert.equal(jwr.error, undefined);
    // res.json(socketId): Sails JSON-encodes a string body once more.
    assert.deepEqual(jwr.headers, { 'content-type': 'application/json' });
    assert.equal(body, JSON.stringify(idOf(s)));
    assert.equal(JSON.parse(body), idOf(s));
  });

  it('GET /socketId over long-polling too', T, async () => {
    const s = await sails({ transports: ['polling'] });
    const { body } = await get(s, '/socketId');
    assert.equal(JSON.parse(body), idOf(s));
    assert.equal(JSON.parse(body), s._raw.io.engine.id);
  });

  it('answers /joinFunRoom and /leaveFunRoom, and 400 without roomName', T, async () => {
    const s = await sails();
    let { body, jwr } = await post(s, '/joinFunRoom', { roomName: 'fun' });
    assert.equal(jwr.statusCode, 200);
    assert.deepEqual(jwr.headers, {});
    assert.deepEqual(body, { message: 'Subscribed to a fun room called fun!' });
    ({ body, jwr } = await post(s, '/leaveFunRoom', { roomName: 'fun' }));
    assert.equal(jwr.statusCode, 200);
    assert.deepEqual(body, { message: 'Left a fun room called fun!' });
    // Leaving again does nothing, as in Sails.
    ({ body } = await post(s, '/leaveFunRoom', { roomName: 'fun' }));
    assert.deepEqual(body, { message: 'Left a fun room called fun!' });
    for (const url of ['/joinFunRoom', '/leaveFunRoom']) {
      ({ body, jwr } = await post(s, url, {}));
      assert.equal(jwr.statusCode, 400);
      assert.ok(jwr.error instanceof Error);
      assert.equal(body, JSON.stringify('`roomName` is required.'));
      assert.deepEqual(jwr.headers, { 'content-type': 'application/json' });
    }
    ({ body, jwr } = await post(s, '/joinFunRoom', { roomName: 7 }));
    assert.equal(jwr.statusCode, 400);
    assert.equal(body, JSON.stringify('`roomName` must be a string.'));
    // req.param() reads the url's query as well; routes ignore case and a trailing slash.
    ({ body, jwr } = await post(s, '/JoinFunRoom/?roomName=q%20r', {}));
    assert.equal(jwr.statusCode, 200);
    assert.deepEqual(body, { message: 'Subscribed to a fun room called q r!' });
  });

  it('answers 404 Not Found for unknown routes and other methods', T, async () => {
    const s = await sails();
    for (const [method, url] of [['get', '/nothing'], ['get', '/joinFunRoom'], ['post', '/socketId'], ['delete', '/broadcast'], ['put', '/'], ['patch', '/leaveRoom']]) {
      const { body, jwr } = await request(s, method, url, {});
      assert.equal(jwr.statusCode, 404, `${method} ${url}`);
      assert.equal(body, 'Not Found');
      assert.deepEqual(jwr.headers, {});
      assert.ok(jwr.error instanceof Error);
    }
  });

  it('broadcasts to the members of a room only', T, async () => {
    const [a, b, c] = await Promise.all([sails(), sails(), sails()]);
    await post(a, '/joinFunRoom', { roomName: 'fun' });
    await post(b, '/joinFunRoom', { roomName: 'fun' });
    await post(c, '/joinFunRoom', { roomName: 'other' });
    const { body, jwr } = await post(c, '/broadcast', { roomName: 'fun', event: 'hello', data: { x: 1 } });
    assert.equal(jwr.statusCode, 200);
    assert.equal(body, 'OK');
    assert.deepEqual(await take(a, 'hello'), [{ x: 1 }]);
    assert.deepEqual(await take(b, 'hello'), [{ x: 1 }]);
    // What the server sent c before answering it came first: nothing.
    assert.deepEqual(c.got, []);
    // No event named: "message", as sails.sockets.broadcast() defaults.
    await post(c, '/broadcast', { roomName: 'other', data: 'hi' });
    assert.deepEqual(await take(c, 'message'), ['hi']);
    assert.deepEqual(a.got, []);
    const bad = await post(c, '/broadcast', { event: 'hello' });
    assert.equal(bad.jwr.statusCode, 400);
    assert.equal(bad.body, JSON.stringify('`roomName` is required.'));
  });

  it('/leaveRoom unsubscribes another socket by id, which no longer gets the room', T, async () => {
    const [a, b, c] = await Promise.all([sails(), sails(), sails()]);
    await post(a, '/joinFunRoom', { roomName: 'fun' });
    await post(b, '/joinFunRoom', { roomName: 'fun' });
    const { body, jwr } = await post(c, '/leaveRoom', { socketId: idOf(b), roomName: 'fun' });
    assert.equal(jwr.statusCode, 200);
    assert.deepEqual(body, { message: `Socket ${idOf(b)} left the room called fun!` });
    await post(c, '/broadcast', { roomName: 'fun', event: 'after', data: 2 });
    assert.deepEqual(await take(a, 'after'), [2]);
    // The broadcast went out before a got it; b's answer to a later request follows anything it was sent.
    await get(b, '/socketId');
    assert.deepEqual(b.got, []);
  });

  it('/leaveRoom answers 404 for an id no socket has, and 400 without its parameters', T, async () => {
    const s = await sails();
    let { body, jwr } = await post(s, '/leaveRoom', { socketId: 'AAAAAAAAAAAAAAAAAAAA', roomName: 'fun' });
    assert.equal(jwr.statusCode, 404);
    assert.deepEqual(body, { message: 'Cannot find socket with id=`AAAAAAAAAAAAAAAAAAAA`' });
    ({ body, jwr } = await post(s, '/leaveRoom', { roomName: 'fun' }));
    assert.equal(jwr.statusCode, 400);
    assert.equal(body, JSON.stringify('`socketId` is required.'));
    ({ body, jwr } = await post(s, '/leaveRoom', { socketId: idOf(s) }));
    assert.equal(jwr.statusCode, 400);
    assert.equal(body, JSON.stringify('`roomName` is required.'));
    // Not in the room: nothing to do, and that is fine.
    ({ body, jwr } = await post(s, '/leaveRoom', { socketId: idOf(s), roomName: 'fun' }));
    assert.equal(jwr.statusCode, 200);
  });

  it('refuses malformed requests with the hook\'s parse error', T, async () => {
    const s = await raw(SDK_QUERY);
    const cases = [
      [['post', 'garbage'], /^Invalid request: expected an object \{method, url, headers, data\}, got "garbage"$/],
      [['post', { method: 'post' }], /^No url provided in request: \{"method":"post"\}$/],
      [['post', { url: 5 }], /^Invalid url provided: 5$/],
      [['post', { url: '/joinFunRoom', method: 'get' }], /^Invalid method "get": a request sent as "post" has the method "post"$/],
      [['post', { url: '/joinFunRoom', data: 'x' }], /^Invalid data: must be an object or an array$/],
      [['post', { url: '/joinFunRoom', headers: 3 }], /^Invalid headers: must be an object of strings$/],
      [['fetch', { url: '/joinFunRoom' }], /^Unknown method "fetch": a request is an event named get, post, put, delete, patch, options or head$/],
    ];
    for (const [args, details] of cases) {
      const [err] = await emitAck(s, ...args);
      assert.equal(err.code, 'SAILS:HOOK:SOCKETS:PARSE_VIRTUAL_REQ');
      assert.equal(err.name, 'Error (SAILS:HOOK:SOCKETS:PARSE_VIRTUAL_REQ):');
      assert.equal(err.status, 400);
      assert.equal(err.message, 'Failed to parse incoming socket.io request.');
      assert.match(err.details, details);
      assert.equal(err.statusCode, 400);
      assert.equal(err.body, err.details);
    }
    // Without an acknowledgement, the error comes as "sails:parseError".
    s.emit('get', { nourl: true });
    const [err] = await take(s, 'sails:parseError');
    assert.match(err.details, /^No url provided in request/);
    // The stock client sees it as a failed request.
    const c = await sails();
    const { jwr } = await request(c, 'fetch', '/socketId');
    assert.equal(jwr.statusCode, 400);
    assert.ok(jwr.error instanceof Error);
  });

  it('refuses every request of a client older than SDK 0.11 (none given: 0.9.0), as Sails does', T, async () => {
    for (const [query, version] of [[undefined, '0.9.0'], ['__sails_io_sdk_version=0.10.5', '0.10.5'], ['__sails_io_sdk_version=banana', 'banana']]) {
      const s = await raw(query);
      const [err] = await emitAck(s, 'get', { method: 'get', url: '/socketId', headers: {}, data: {} });
      assert.equal(err.code, 'SAILS:HOOK:SOCKETS:PARSE_VIRTUAL_REQ');
      assert.ok(err.details.startsWith(`This version of Sails is not compatible with the socket.io/sails.io.js client SDK version you are using (${version}).`), err.details);
    }
    // 0.11.0 and later (a prerelease counts as its release) are served.
    for (const version of ['0.11.0', '1.0.0-rc.1', 'v2.3.4']) {
      const s = await raw(`__sails_io_sdk_version=${version}`);
      const [jwr] = await emitAck(s, 'get', { method: 'get', url: '/socketId', headers: {}, data: {} });
      assert.equal(jwr.statusCode, 200, version);
      assert.equal(JSON.parse(jwr.body), s.id);
    }
  });

  it('serves a Socket.IO v4 client that sends the SDK query too', T, async () => {
    const s = await connectV4(suite.roomd.url, { query: { __sails_io_sdk_version: '1.2.1' } });
    open.push(s);
    const jwr = await s.timeout(WAIT_MS).emitWithAck('post', { method: 'post', url: '/joinFunRoom', headers: {}, data: { roomName: 'v4' } });
    assert.deepEqual(jwr, { body: { message: 'Subscribed to a fun room called v4!' }, headers: {}, statusCode: 200 });
    const got = await s.timeout(WAIT_MS).emitWithAck('get', { method: 'get', url: '/socketId', headers: {}, data: {} });
    assert.equal(JSON.parse(got.body), s.id);
  });
});

describe('roomd --protocol sails on two nodes joined by Redis', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  let redis;
  let port;
  let io;
  const nodes = [];
  const open = [];
  before(async () => {
    port = await freePort();
    redis = await startRedis(port);
    for (let i = 0; i < 2; i++) {
      nodes.push(await startRoomd(['--protocol', 'sails', '--redis', `redis://127.0.0.1:${port}`, '--node-id', `sails${i}`]));
    }
    // Every node has heard the other (heartbeats go once a second).
    await sleep(1200);
    io = sailsSdk(nodes[0].url);
  });
  after(async () => {
    for (const s of [io.socket, ...open]) if (s.isConnected()) s.disconnect();
    for (const node of nodes) {
      const exit = await node.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, node.stderr());
    }
    await redis.stop();
  });
  const sails = async (node) => {
    const s = record(io.sails.connect(nodes[node].url, { multiplex: false }), EVENTS);
    open.push(s);
    return connected(s);
  };

  it('/leaveRoom unsubscribes a socket on the other node, answered once that is done', { timeout: 30000 }, async () => {
    // a on node 0; b and its neighbour d on node 1, all in "fun".
    const [a, b, d] = await Promise.all([sails(0), sails(1), sails(1)]);
    for (const s of [a, b, d]) assert.equal((await post(s, '/joinFunRoom', { roomName: 'fun' })).jwr.statusCode, 200);
    await post(a, '/broadcast', { roomName: 'fun', event: 'hello', data: 1 });
    for (const s of [a, b, d]) assert.deepEqual(await take(s, 'hello'), [1]);

    const { body, jwr } = await post(a, '/leaveRoom', { socketId: b._raw.id, roomName: 'fun' });
    assert.equal(jwr.statusCode, 200);
    assert.deepEqual(body, { message: `Socket ${b._raw.id} left the room called fun!` });
    // b left before a got its answer: a broadcast sent now misses it.
    await post(a, '/broadcast', { roomName: 'fun', event: 'after', data: 2 });
    assert.deepEqual(await take(a, 'after'), [2]);
    // Once d (b's node) has it, anything for b went out too; b's answer follows it.
    assert.deepEqual(await take(d, 'after'), [2]);
    await get(b, '/socketId');
    assert.deepEqual(b.got, []);

    // And back, from node 1 to a socket on node 0.
    const back = await post(d, '/leaveRoom', { socketId: a._raw.id, roomName: 'fun' });
    assert.equal(back.jwr.statusCode, 200);
    await post(d, '/broadcast', { roomName: 'fun', event: 'after', data: 3 });
    assert.deepEqual(await take(d, 'after'), [3]);
    await get(a, '/socketId');
    assert.deepEqual(a.got, []);
  });

  it('/leaveRoom answers 404 when no node holds the id, after the adapter\'s timeout', { timeout: 30000 }, async () => {
    const a = await sails(0);
    const started = Date.now();
    const { body, jwr } = await withTimeout(
      new Promise((resolve) => a.request({ method: 'post', url: '/leaveRoom', data: { socketId: 'AAAAAAAAAAAAAAAAAAAA', roomName: 'fun' } }, (b, j) => resolve({ body: b, jwr: j }))),
      10000,
      'the 404',
    );
    assert.equal(jwr.statusCode, 404);
    assert.deepEqual(body, { message: 'Cannot find socket with id=`AAAAAAAAAAAAAAAAAAAA`' });
    // The other node was asked: silence for the request timeout (5 s).
    assert.ok(Date.now() - started >= 4000, `answered after ${Date.now() - started} ms`);
  });

  it('a node stopped while a /leaveRoom waits exits cleanly (its record freed: leak-free under ASan)', { timeout: 30000 }, async () => {
    const node = await startRoomd(['--protocol', 'sails', '--redis', `redis://127.0.0.1:${port}`, '--node-id', 'sails2']);
    try {
      const s = record(io.sails.connect(node.url, { multiplex: false }), EVENTS);
      open.push(s);
      await connected(s);
      // Nobody holds the id: the leave waits for the request timeout (5 s).
      s.request({ method: 'post', url: '/leaveRoom', data: { socketId: 'BBBBBBBBBBBBBBBBBBBB', roomName: 'fun' } }, () => {});
      await sleep(300);
      assert.deepEqual(await node.stop(), { code: 0, signal: null }, node.stderr());
    } finally {
      if (node.running()) await node.stop('SIGKILL');
    }
  });
});
