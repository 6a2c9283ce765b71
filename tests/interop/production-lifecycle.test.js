'use strict';
// roomd's life (examples/roomd/lifecycle.c, log.c, options.c): the drain
// after SIGTERM (/healthz 503, clients closed with 1001, new sessions
// refused, exit 0 within --drain-ms), configuration from ROOMD_*
// variables, and the log lines (UTC, levels, --log-format json, --verbose).
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { connect, disconnected, Raw, httpOnce, withTimeout, sleep, WAIT_MS } = require('./helpers');

const T = { timeout: 30000 };
const ROOMD = process.env.ROOMD;
const UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// roomd with `args` and `env` added to a clean environment (no ROOMD_*
// inherited); resolves once it listens, whichever the log format.
async function start(args, env = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ROOMD_')));
  const proc = spawn(ROOMD, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...clean, ...env } });
  let stderr = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await withTimeout(
    new Promise((resolve, reject) => {
      proc.stderr.on('data', (chunk) => {
        stderr += chunk;
        const m = /listening on [^\s"]+:(\d+)["\n]/.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      exited.then((e) => reject(new Error(`roomd exited (${e.code ?? e.signal}): ${stderr}`)));
    }),
    5000,
    'roomd to listen',
  ).catch((err) => {
    proc.kill('SIGKILL');
    throw err;
  });
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    exited,
    stderr: () => stderr,
    lines: () => stderr.split('\n').filter(Boolean),
    async stop(ms = 10000) {
      proc.kill('SIGTERM');
      try {
        return await withTimeout(exited, ms, 'roomd to exit');
      } catch (err) {
        proc.kill('SIGKILL');
        throw err;
      }
    },
  };
}

// A WebSocket upgrade on a bare TCP socket that never answers the close
// frame nor the server's FIN: the client the drain has to wait for.
function stubborn(port, p = '/ws') {
  return withTimeout(
    new Promise((resolve, reject) => {
      const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () =>
        sock.write(
          `GET ${p} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        ),
      );
      let got = Buffer.alloc(0);
      sock.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (got.includes('\r\n\r\n') && !sock.upgraded) {
          sock.upgraded = true;
          resolve(sock);
        }
        sock.received = got;
      });
      sock.on('error', reject);
    }),
    WAIT_MS,
    'the upgrade',
  );
}

// A port nobody listens on (bound, read, released).
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

describe('drain', () => {
  it('answers /healthz 503 while it drains, closes clients with 1001, refuses new ones, exits 0 by --drain-ms', T, async () => {
    const DRAIN = 1500;
    const r = await start(['--port', '0', '--drain-ms', String(DRAIN), '--log-format', 'json']);
    const sock = await stubborn(r.port);
    const io = await connect(r.url);
    const raw = await Raw.open(r.port, { path: '/ws' });
    try {
      assert.equal((await httpOnce(r.port, 'GET', '/healthz')).status, 200);
      const t0 = Date.now();
      r.proc.kill('SIGTERM');
      // Those that cooperate are told to go away and go.
      assert.deepEqual(await raw.closed(), { code: 1001, reason: 'server shutting down' });
      await disconnected(io);
      // The stubborn one holds the drain open: health says so, new
      // sessions are refused, the metrics show it.
      const h = await httpOnce(r.port, 'GET', '/healthz');
      assert.equal(h.status, 503);
      assert.equal(h.body.toString(), 'draining\n');
      assert.equal(h.headers.connection, 'close');
      const head = await httpOnce(r.port, 'HEAD', '/healthz').catch((e) => e);
      assert.ok(head instanceof Error || head.status === 503);
      const metrics = (await httpOnce(r.port, 'GET', '/metrics')).body.toString();
      assert.match(metrics, /\nroomd_draining 1\n/);
      const refused = await Raw.open(r.port, { path: '/ws' }).catch((e) => e);
      assert.equal(refused.status, 503);
      assert.equal((await httpOnce(r.port, 'GET', '/socket.io/?EIO=4&transport=polling')).status, 503);
      // The close frame reached it (1001), then it is cut at DRAIN.
      assert.ok(sock.received.includes(Buffer.from([0x88])));
      const exit = await withTimeout(r.exited, DRAIN + 3000, 'roomd to exit');
      const took = Date.now() - t0;
      assert.deepEqual(exit, { code: 0, signal: null }, r.stderr());
      assert.ok(took >= DRAIN - 100, `exited after ${took} ms, before the drain time`);
      assert.ok(took < DRAIN + 2500, `exited after ${took} ms`);
      const msgs = r.lines().map((l) => JSON.parse(l).msg);
      assert.ok(msgs.some((m) => /^SIGTERM: draining 3 connections \(at most 1500 ms\)/.test(m)), msgs.join('\n'));
      assert.ok(msgs.some((m) => m.startsWith('drain time over; closing the listener')), msgs.join('\n'));
      assert.ok(msgs.includes('stopped'));
    } finally {
      sock.destroy();
      io.close();
      raw.close();
      r.proc.kill('SIGKILL');
    }
  });

  it('exits at once when the clients leave, and at a second signal', T, async () => {
    const r = await start(['--port', '0', '--drain-ms', '20000']);
    const io = await connect(r.url);
    const t0 = Date.now();
    const exit = await r.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 3000);
    assert.match(r.stderr(), / info drained; closing the listener\n/);
    io.close();

    const s = await start(['--port', '0', '--drain-ms', '20000']);
    const sock = await stubborn(s.port);
    try {
      const t1 = Date.now();
      s.proc.kill('SIGTERM');
      await sleep(200);
      assert.equal((await httpOnce(s.port, 'GET', '/healthz')).status, 503);
      s.proc.kill('SIGINT');
      assert.deepEqual(await withTimeout(s.exited, 5000, 'roomd to exit'), { code: 0, signal: null });
      assert.ok(Date.now() - t1 < 5000);
      // The stubborn client, and the /healthz request's socket when roomd
      // has not yet seen it close (slow under sanitizers).
      const left = /SIGINT again; closing the listener and (\d+) connections left\n/.exec(s.stderr());
      assert.ok(left && (left[1] === '1' || left[1] === '2'), s.stderr());
    } finally {
      sock.destroy();
      s.proc.kill('SIGKILL');
    }
  });
});

describe('systemd', () => {
  // Whether this roomd has sd_notify (built with libsystemd).
  const notifies = () => {
    try {
      return require('node:child_process').execFileSync('ldd', [ROOMD]).toString().includes('libsystemd');
    } catch {
      return false;
    }
  };

  it('says READY=1 once it listens and STOPPING=1 when it drains (sd_notify)', T, async (t) => {
    if (!notifies()) {
      t.skip('roomd built without libsystemd');
      return;
    }
    // systemd's end of the notification socket: a datagram socket (which
    // node lacks), in Python, which meson needs anyway.
    const sockPath = path.join(os.tmpdir(), `roomd-notify-${process.pid}.sock`);
    const listener = spawn(
      'python3',
      ['-u', '-c', 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound")\nwhile True: print(s.recv(4096).decode().replace("\\n"," "))', sockPath],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let heard = '';
    listener.stdout.on('data', (d) => (heard += d));
    const hear = (what) =>
      withTimeout(
        (async () => {
          while (!heard.includes(what)) await sleep(20);
        })(),
        WAIT_MS,
        what,
      );
    try {
      await hear('bound');
      const r = await start(['--port', '0'], { NOTIFY_SOCKET: sockPath });
      await hear('READY=1');
      assert.ok(!heard.includes('STOPPING=1'));
      assert.deepEqual(await r.stop(), { code: 0, signal: null });
      await hear('STOPPING=1');
    } finally {
      listener.kill('SIGKILL');
      fs.rmSync(sockPath, { force: true });
    }
  });
});

describe('configuration from the environment', () => {
  it('reads every option as ROOMD_<NAME>; the command line wins', T, async () => {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomd-env-'));
    fs.writeFileSync(path.join(dir, 'index.html'), 'from env\n');
    const r = await start([], {
      ROOMD_PORT: String(port),
      ROOMD_HOST: '127.0.0.1',
      ROOMD_STATIC: dir,
      ROOMD_LOG_FORMAT: 'json',
      ROOMD_VERBOSE: '1',
      ROOMD_DRAIN_MS: '100',
    });
    try {
      assert.equal(r.port, port);
      assert.equal((await httpOnce(port, 'GET', '/')).body.toString(), 'from env\n');
      for (const l of r.lines()) JSON.parse(l);
      assert.deepEqual(await r.stop(), { code: 0, signal: null });
    } finally {
      r.proc.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // The flag over the variable.
    const t = await start(['--port', '0', '--log-format', 'text'], { ROOMD_LOG_FORMAT: 'json', ROOMD_PORT: '1' });
    try {
      assert.ok(t.port !== 1);
      assert.match(t.lines()[0], /^\S+Z (info|warn) /);
      assert.deepEqual(await t.stop(), { code: 0, signal: null });
    } finally {
      t.proc.kill('SIGKILL');
    }
  });

  it('refuses bad values with status 2, from either source', T, async () => {
    const run = (args, env) =>
      new Promise((resolve) => {
        const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ROOMD_')));
        const p = spawn(ROOMD, args, { env: { ...clean, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d) => (err += d));
        p.on('exit', (code) => resolve({ code, err }));
      });
    let res = await run([], { ROOMD_LOG_FORMAT: 'xml' });
    assert.equal(res.code, 2);
    assert.match(res.err, /ROOMD_LOG_FORMAT wants text or json/);
    res = await run(['--drain-ms', '-1'], {});
    assert.equal(res.code, 2);
    assert.match(res.err, /--drain-ms wants a number/);
    res = await run([], { ROOMD_VERBOSE: 'maybe' });
    assert.equal(res.code, 2);
    res = await run(['--port', '0', '--static', '/nonexistent/roomd-static'], {});
    assert.equal(res.code, 1);
    assert.match(res.err, /static: \/nonexistent\/roomd-static: No such file or directory/);
  });
});

describe('logs', () => {
  it('writes JSON lines with UTC times and levels; --verbose adds each connection, never each message', T, async () => {
    const secret = 'log-test-secret';
    const r = await start(['--port', '0', '--log-format', 'json', '--verbose', '--auth-secret', secret]);
    try {
      const b64url = (b) => Buffer.from(b).toString('base64url');
      const payload = b64url(JSON.stringify({ userId: 'u1', exp: Math.floor(Date.now() / 1000) + 600, rooms: ['*'] }));
      const token = `${payload}.${b64url(crypto.createHmac('sha256', secret).update(payload).digest())}`;
      const raw = await Raw.open(r.port, { path: `/ws?token=${token}` });
      await withTimeout(
        (async () => {
          while (!/open websocket/.test(r.stderr())) await sleep(20);
        })(),
        WAIT_MS,
        'the open line',
      );
      const before = r.lines().length;
      for (let i = 0; i < 40; i++) raw.send(JSON.stringify({ event: 'echo', data: i, id: i + 1 }));
      for (let i = 0; i < 40; i++) await raw.next();
      await sleep(100);
      assert.equal(r.lines().length, before, 'no line per message');
      raw.close();
      // A refused connect: one warning, with the peer and why.
      await Raw.open(r.port, { path: '/ws?token=nope' })
        .then((x) => x.closed())
        .catch(() => {});
      await withTimeout(
        (async () => {
          while (!/connect refused/.test(r.stderr())) await sleep(20);
        })(),
        WAIT_MS,
        'the refusal line',
      );
      assert.deepEqual(await r.stop(), { code: 0, signal: null });
      const lines = r.lines().map((l) => JSON.parse(l));
      for (const l of lines) {
        assert.deepEqual(Object.keys(l), ['time', 'level', 'msg']);
        assert.match(l.time, UTC);
        assert.ok(['error', 'warn', 'info', 'debug'].includes(l.level));
      }
      const listen = lines.find((l) => /listening on 127\.0\.0\.1:\d+$/.test(l.msg));
      assert.equal(listen.level, 'info');
      const open = lines.find((l) => /^open websocket \S+ from 127\.0\.0\.1 at \/ws$/.test(l.msg));
      assert.ok(open, JSON.stringify(lines));
      assert.equal(open.level, 'debug');
      const id = open.msg.split(' ')[2];
      assert.ok(lines.some((l) => l.msg.startsWith(`close ${id}: `)));
      const refused = lines.find((l) => l.msg.startsWith('connect refused (127.0.0.1): '));
      assert.equal(refused.level, 'warn');
      assert.ok(lines.some((l) => l.msg.startsWith('SIGTERM: draining')));
    } finally {
      r.proc.kill('SIGKILL');
    }
  });

  it('writes text lines "<UTC time> <level> <message>", and without --verbose no connection lines', T, async () => {
    const r = await start(['--port', '0']);
    try {
      const raw = await Raw.open(r.port, { path: '/ws' });
      raw.close();
      await sleep(100);
      assert.deepEqual(await r.stop(), { code: 0, signal: null });
      for (const l of r.lines()) {
        const [time, level] = l.split(' ');
        assert.match(time, UTC, l);
        assert.ok(['error', 'warn', 'info', 'debug'].includes(level), l);
      }
      assert.doesNotMatch(r.stderr(), /open websocket|debug/);
      // --quiet keeps the listening and shutdown lines, drops the rest.
      const q = await start(['--port', '0', '--quiet']);
      assert.deepEqual(await q.stop(), { code: 0, signal: null });
      assert.doesNotMatch(q.stderr(), /limits:/);
      assert.match(q.stderr(), /listening on/);
      assert.match(q.stderr(), /stopped\n$/);
    } finally {
      r.proc.kill('SIGKILL');
    }
  });
});
