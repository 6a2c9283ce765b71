'use strict';
// Shared by the interop tests: start and stop roomd, connect clients, and
// wait for things, every wait bounded in time.
const { spawn, execFileSync } = require('node:child_process');
const net = require('node:net');
const { io } = require('socket.io-client');
const WebSocket = require('ws');

const ROOMD = process.env.ROOMD;
if (!ROOMD) throw new Error('set ROOMD to the roomd executable (tests/interop/run.sh does)');

// The protocols the server under test speaks (--protocol NAME): all of
// roomd's unless ROOMD_PROTOCOLS lists fewer (examples/epoll_server speaks
// only "rooms"). Tests of another protocol are skipped, not passed.
const PROTOCOLS = (process.env.ROOMD_PROTOCOLS || 'rooms diffy classroom bench').split(/\s+/);
const speaks = (protocol) => PROTOCOLS.includes(protocol);

const WAIT_MS = 3000;

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Starts roomd on 127.0.0.1 with --port 0 and reads the port it prints.
async function startRoomd(args = []) {
  const proc = spawn(ROOMD, ['--port', '0', '--host', '127.0.0.1', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await withTimeout(
    new Promise((resolve, reject) => {
      proc.stderr.on('data', (chunk) => {
        stderr += chunk;
        const m = /listening on \S+:(\d+)\n/.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      exited.then(({ code, signal }) => reject(new Error(`roomd exited (${code ?? signal}): ${stderr}`)));
    }),
    5000,
    'roomd to listen',
  ).catch((err) => {
    proc.kill('SIGKILL');
    throw err;
  });
  let exit = null;
  exited.then((e) => {
    exit = e;
  });
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    running: () => exit === null,
    // SIGTERM (or `signal`), then the exit status; SIGKILL if it hangs.
    async stop(signal = 'SIGTERM', ms = 8000) {
      if (exit) return exit;
      proc.kill(signal);
      try {
        return await withTimeout(exited, ms, 'roomd to exit');
      } catch (err) {
        proc.kill('SIGKILL');
        throw err;
      }
    },
  };
}

// The transports the stock client is given by default: ['websocket'], or
// those ROOMD_SIO_TRANSPORTS lists (comma-separated, e.g. "polling"), which
// runs a whole suite over long-polling.
const TRANSPORTS = (process.env.ROOMD_SIO_TRANSPORTS || 'websocket').split(',');

// A stock socket.io-client socket that records every event it receives.
function client(url, opts = {}) {
  const socket = io(url, {
    transports: TRANSPORTS,
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
    ...opts,
  });
  socket.events = [];
  socket.onAny((event, ...args) => socket.events.push({ event, args }));
  return socket;
}

// Resolves with the connected socket; rejects with the connect_error.
function connect(url, opts = {}) {
  const socket = client(url, opts);
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', (err) => {
        socket.close();
        reject(err);
      });
    }),
    WAIT_MS,
    'connect',
  );
}

// The connect_error of a connection that must be refused.
function refused(url, opts = {}) {
  const socket = client(url, opts);
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connect', () => {
        socket.close();
        reject(new Error('connected, but should have been refused'));
      });
      socket.once('connect_error', (err) => {
        socket.close();
        resolve(err);
      });
    }),
    WAIT_MS,
    'connect_error',
  );
}

// Waits until `socket` has received `count` events named `event` (counting
// those already recorded) and returns their argument lists.
function received(socket, event, count = 1, ms = WAIT_MS) {
  const matching = () => socket.events.filter((e) => e.event === event).map((e) => e.args);
  let check;
  return withTimeout(
    new Promise((resolve) => {
      check = () => {
        const found = matching();
        if (found.length >= count) resolve(found.slice(0, count));
      };
      // onAny listeners run in order: the recorder has already pushed.
      socket.onAny(check);
      check();
    }),
    ms,
    `${count} "${event}" event(s)`,
  ).finally(() => socket.offAny(check));
}

// Takes the next unseen `event` (consuming it from the record).
async function next(socket, event, ms = WAIT_MS) {
  const [args] = await received(socket, event, 1, ms);
  socket.events.splice(
    socket.events.findIndex((e) => e.args === args),
    1,
  );
  return args;
}

function names(socket) {
  return socket.events.map((e) => e.event);
}

// One roomd for a describe() block: started before its tests, checked to
// exit cleanly after them. Sockets passed to track() close after each test.
function roomdSuite(args) {
  const { before, after, afterEach } = require('node:test');
  const assert = require('node:assert/strict');
  const suite = {
    roomd: null,
    open: [],
    track(socket) {
      suite.open.push(socket);
      return socket;
    },
  };
  before(async () => {
    suite.roomd = await startRoomd(args);
  });
  after(async () => {
    const exit = await suite.roomd.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, suite.roomd.stderr());
  });
  afterEach(() => {
    suite.open.forEach((s) => s.close());
    suite.open = [];
  });
  return suite;
}

function ack(socket, ...args) {
  return socket.timeout(WAIT_MS).emitWithAck(...args);
}

function disconnected(socket, ms = WAIT_MS) {
  if (!socket.connected) return Promise.resolve();
  return withTimeout(new Promise((resolve) => socket.once('disconnect', resolve)), ms, 'disconnect');
}

// A raw WebSocket client with a queue of the messages it received. It
// answers Engine.IO pings itself (without queueing them) unless told not to.
class Raw {
  static open(port, { path = '/socket.io/?EIO=4&transport=websocket', autoPong = true, ws = {} } = {}) {
    const raw = new Raw(new WebSocket(`ws://127.0.0.1:${port}${path}`, ws), autoPong);
    return withTimeout(
      new Promise((resolve, reject) => {
        raw.ws.once('open', () => resolve(raw));
        raw.ws.once('error', reject);
        raw.ws.once('unexpected-response', (req, res) => {
          const err = new Error(`HTTP ${res.statusCode}`);
          err.status = res.statusCode;
          reject(err);
        });
      }),
      WAIT_MS,
      'WebSocket open',
    );
  }

  constructor(ws, autoPong) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.closeInfo = null;
    ws.on('message', (data, isBinary) => {
      if (!isBinary && autoPong && data.length === 1 && data[0] === 0x32) {
        ws.send('3');
        return;
      }
      this.queue.push(isBinary ? Buffer.from(data) : data.toString());
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => {});
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }

  // The next message: a string for text, a Buffer for binary.
  next(ms = WAIT_MS) {
    return withTimeout(
      new Promise((resolve, reject) => {
        const check = () => {
          if (this.queue.length) resolve(this.queue.shift());
          else if (this.closeInfo) reject(new Error(`closed (${this.closeInfo.code}) while waiting`));
          else this.waiters.push(check);
        };
        check();
      }),
      ms,
      'a WebSocket message',
    );
  }

  send(data) {
    this.ws.send(data);
  }

  // Resolves with {code, reason} once the server has closed the connection.
  closed(ms = WAIT_MS) {
    return withTimeout(
      new Promise((resolve) => {
        const check = () => (this.closeInfo ? resolve(this.closeInfo) : this.waiters.push(check));
        check();
      }),
      ms,
      'the WebSocket to close',
    );
  }

  close() {
    this.ws.terminate();
  }
}

// Opens an Engine.IO session, reads the open packet, CONNECTs namespace "/".
async function rawSession(port, opts) {
  const raw = await Raw.open(port, opts);
  const open = await raw.next();
  if (open[0] !== '0') throw new Error(`expected an open packet, got ${open}`);
  raw.handshake = JSON.parse(open.slice(1));
  raw.send('40');
  const connected = await raw.next();
  if (!connected.startsWith('40{')) throw new Error(`expected CONNECT, got ${connected}`);
  raw.sid = JSON.parse(connected.slice(2)).sid;
  return raw;
}

// A raw TCP connection speaking HTTP/1.1 by hand, for requests no HTTP
// client would send (garbage, truncated, pipelined). Responses are parsed in
// order as they arrive: {status, reason, headers (lowercase names), body}.
class RawHttp {
  static open(port) {
    const sock = net.connect(port, '127.0.0.1');
    return withTimeout(
      new Promise((resolve, reject) => {
        sock.once('connect', () => resolve(new RawHttp(sock)));
        sock.once('error', reject);
      }),
      WAIT_MS,
      'TCP connect',
    );
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.responses = [];
    this.ended = false;
    this.error = null;
    this.waiters = [];
    sock.on('data', (chunk) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.parse();
      this.wake();
    });
    const end = () => {
      if (this.ended) return;
      this.ended = true;
      this.parse();
      this.wake();
    };
    sock.on('end', end);
    sock.on('close', end);
    sock.on('error', () => {});
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }

  // Moves every complete response out of the buffer.
  parse() {
    for (;;) {
      const headEnd = this.buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const lines = this.buf.subarray(0, headEnd).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]);
      if (!m) {
        // Not HTTP: what response() then rejects with.
        this.error = new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
        this.ended = true;
        this.sock.destroy();
        return;
      }
      const headers = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim().toLowerCase();
        const value = line.slice(i + 1).trim();
        headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
      }
      let rest = this.buf.subarray(headEnd + 4);
      let body;
      if (headers['transfer-encoding'] === 'chunked') {
        const parts = [];
        let off = 0;
        for (;;) {
          const eol = rest.indexOf('\r\n', off);
          if (eol < 0) return;
          const size = parseInt(rest.subarray(off, eol).toString(), 16);
          if (rest.length < eol + 2 + size + 2) return;
          parts.push(rest.subarray(eol + 2, eol + 2 + size));
          off = eol + 2 + size + 2;
          if (size === 0) break;
        }
        body = Buffer.concat(parts);
        rest = rest.subarray(off);
      } else if ('content-length' in headers) {
        const len = Number(headers['content-length']);
        if (rest.length < len) return;
        body = rest.subarray(0, len);
        rest = rest.subarray(len);
      } else if (Number(m[1]) === 204 || Number(m[1]) === 304 || Number(m[1]) < 200) {
        body = Buffer.alloc(0);
      } else {
        if (!this.ended) return; // delimited by the close
        body = rest;
        rest = Buffer.alloc(0);
      }
      this.buf = rest;
      this.responses.push({ status: Number(m[1]), reason: m[2], headers, body });
    }
  }

  send(bytes) {
    this.sock.write(bytes);
  }

  // A request's bytes: method, path, headers (an object), body.
  static request(method, path, headers = {}, body = null) {
    const h = { Host: '127.0.0.1', ...headers };
    if (body !== null && !('Content-Length' in h)) h['Content-Length'] = Buffer.byteLength(body);
    const head =
      `${method} ${path} HTTP/1.1\r\n` +
      Object.entries(h)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('') +
      '\r\n';
    return body === null ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]);
  }

  // The next response; rejects if the connection closes first.
  response(ms = WAIT_MS) {
    return withTimeout(
      new Promise((resolve, reject) => {
        const check = () => {
          if (this.responses.length) resolve(this.responses.shift());
          else if (this.error) reject(this.error);
          else if (this.ended) reject(new Error(`connection closed; unparsed: ${JSON.stringify(this.buf.toString('latin1'))}`));
          else this.waiters.push(check);
        };
        check();
      }),
      ms,
      'an HTTP response',
    );
  }

  // Resolves once the server has closed the connection (true), or with
  // false if it is still open after `ms`.
  closed(ms = WAIT_MS) {
    return withTimeout(
      new Promise((resolve) => {
        const check = () => (this.ended ? resolve(true) : this.waiters.push(check));
        check();
      }),
      ms,
      'the connection to close',
    ).catch(() => false);
  }

  close() {
    this.sock.destroy();
  }
}

// One HTTP request on its own connection; resolves with the response.
async function httpOnce(port, method, path, headers = {}, body = null, ms = WAIT_MS) {
  const c = await RawHttp.open(port);
  try {
    c.send(RawHttp.request(method, path, headers, body));
    return await c.response(ms);
  } finally {
    c.close();
  }
}

// An Engine.IO v4 polling payload: packets joined by the record separator.
const RS = '\x1e';

// Opens a polling session at `path` (default Socket.IO's) with one GET;
// resolves with the handshake of the open packet.
async function pollOpen(port, path = '/socket.io/', headers = {}) {
  const res = await httpOnce(port, 'GET', `${path}?EIO=4&transport=polling`, headers);
  const text = res.body.toString();
  if (res.status !== 200 || text[0] !== '0') throw new Error(`handshake: ${res.status} ${text}`);
  return JSON.parse(text.slice(1));
}

// A TCP proxy in front of the server at `port` that holds back, for `delayMs`,
// every connection whose first bytes match `match` (by default WebSocket
// upgrades: the upgrade of a polling session then certainly happens while
// events flow over polling). Everything else passes at once.
function delayingProxy(port, { match = /transport=websocket/, delayMs = 300 } = {}) {
  const sockets = new Set();
  const server = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    down.once('data', (first) => {
      const go = () => {
        up.write(first);
        down.pipe(up);
      };
      if (match.test(first.toString('latin1'))) setTimeout(go, delayMs);
      else go();
    });
    up.pipe(down);
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
  });
  return withTimeout(
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const p = server.address().port;
        resolve({
          port: p,
          url: `http://127.0.0.1:${p}`,
          close() {
            sockets.forEach((s) => s.destroy());
            server.close();
          },
        });
      });
    }),
    WAIT_MS,
    'the proxy to listen',
  );
}

// A TCP proxy in front of the server at `port`. cut() ends every connection
// it carries, both sides at once, as a broken network path would; over
// long-polling there is a moment between two polls with no connection to
// cut, so it first waits (up to 1 s) for one. hold() refuses new
// connections until release(); close() ends them all and stops listening.
async function cuttingProxy(port) {
  const pairs = new Set();
  let holding = false;
  let target = port;
  const server = net.createServer((down) => {
    if (holding) {
      down.destroy();
      return;
    }
    const up = net.connect(target, '127.0.0.1');
    const pair = [down, up];
    pairs.add(pair);
    const end = () => pairs.delete(pair) && pair.forEach((s) => s.destroy());
    for (const s of pair) s.on('error', end).on('close', end);
    down.pipe(up);
    up.pipe(down);
  });
  const drop = () => [...pairs].forEach((pair) => pair.forEach((s) => s.destroy()));
  await withTimeout(
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    }),
    WAIT_MS,
    'the proxy to listen',
  );
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    async cut() {
      for (let t = 0; t < 100 && pairs.size === 0; t++) await sleep(10);
      drop();
    },
    hold() {
      holding = true;
    },
    release() {
      holding = false;
    },
    // New connections go to `p` (a load balancer moving the client).
    retarget(p) {
      target = p;
    },
    close() {
      drop();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

// redis-server (Debian's; tests/deps.sh installs it), or null.
function redisServerPath() {
  for (const p of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    try {
      execFileSync(p, ['--version']);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}
const REDIS_SERVER = redisServerPath();

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// redis-server on 127.0.0.1:`port` without persistence, ready when it says
// so (bounded); stop() ends it by PID.
async function startRedis(port) {
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  await withTimeout(new Promise((resolve, reject) => {
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      if (/Ready to accept connections/.test(out)) resolve();
    });
    exited.then((code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  }), 5000, 'redis-server to start').catch((err) => {
    proc.kill('SIGKILL');
    throw err;
  });
  return {
    proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await withTimeout(exited, 5000, 'redis-server to exit').catch(() => proc.kill('SIGKILL'));
    },
  };
}

module.exports = {
  WAIT_MS,
  speaks,
  withTimeout,
  sleep,
  startRoomd,
  roomdSuite,
  client,
  connect,
  refused,
  received,
  next,
  names,
  ack,
  disconnected,
  Raw,
  rawSession,
  RawHttp,
  httpOnce,
  RS,
  pollOpen,
  delayingProxy,
  cuttingProxy,
  REDIS_SERVER,
  freePort,
  startRedis,
};
