'use strict';
// Bad input against a running roomd: each case must cost at most the
// offending connection, never the server. After every case roomd is still
// running and a new client still gets served.
const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const crypto = require('node:crypto');
const { startRoomd, connect, received, ack, Raw, rawSession, withTimeout, WAIT_MS } = require('./helpers');

const T = { timeout: 20000 };

describe('bad input', () => {
  let roomd;

  before(async () => {
    roomd = await startRoomd(['--protocol', 'rooms']);
  });
  after(async () => {
    const exit = await roomd.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, roomd.stderr());
  });
  afterEach(async () => {
    assert.ok(roomd.running(), roomd.stderr());
    const s = await connect(roomd.url);
    try {
      assert.equal((await ack(s, 'join', 'alive')).msg, 'Joined room');
    } finally {
      s.close();
    }
  });

  function get(path, headers = {}) {
    return withTimeout(
      new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: roomd.port, path, headers, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        });
        req.on('error', reject);
      }),
      WAIT_MS,
      `GET ${path}`,
    );
  }

  // A TCP connection that has completed the WebSocket handshake by hand.
  function upgraded(path = '/socket.io/?EIO=4&transport=websocket') {
    return withTimeout(
      new Promise((resolve, reject) => {
        const sock = net.connect(roomd.port, '127.0.0.1');
        let buf = Buffer.alloc(0);
        const onData = (chunk) => {
          buf = Buffer.concat([buf, chunk]);
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          sock.off('data', onData);
          const head = buf.subarray(0, end).toString();
          if (!head.startsWith('HTTP/1.1 101')) reject(new Error(head));
          else resolve(frames(sock, buf.subarray(end + 4)));
        };
        sock.on('data', onData);
        sock.on('error', reject);
        sock.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      }),
      WAIT_MS,
      'the WebSocket handshake',
    );
  }

  // Reads the server's frames off `sock` (server frames are unmasked and,
  // here, short); `closed()` resolves with the close code, or null when the
  // connection ended without a close frame.
  function frames(sock, initial) {
    let buf = initial;
    let code;
    let ended = false;
    const waiters = [];
    const parse = () => {
      while (buf.length >= 2) {
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        if ((buf[0] & 0x0f) === 8 && code === undefined) code = len >= 2 ? buf.readUInt16BE(off) : 1005;
        buf = buf.subarray(off + len);
      }
    };
    const wake = () => waiters.splice(0).forEach((w) => w());
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      parse();
      wake();
    });
    sock.on('close', () => {
      ended = true;
      wake();
    });
    sock.on('error', () => {});
    parse();
    return {
      sock,
      closed: (ms = WAIT_MS) =>
        withTimeout(
          new Promise((resolve) => {
            const check = () => (ended ? resolve(code ?? null) : waiters.push(check));
            check();
          }),
          ms,
          'the server to close the connection',
        ),
    };
  }

  // A client frame: FIN, `opcode`, masked unless told otherwise.
  function frame(opcode, payload, { mask = true, fin = true } = {}) {
    const len = payload.length;
    const head = [(fin ? 0x80 : 0) | opcode];
    const m = mask ? 0x80 : 0;
    if (len < 126) head.push(m | len);
    else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
    else throw new Error('test frames stay short');
    if (!mask) return Buffer.concat([Buffer.from(head), payload]);
    const key = crypto.randomBytes(4);
    const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
    return Buffer.concat([Buffer.from(head), key, body]);
  }

  it('non-WebSocket HTTP gets 400', T, async () => {
    assert.equal(await get('/socket.io/?EIO=4&transport=websocket'), 400);
    assert.equal(await get('/socket.io/?EIO=4&transport=polling&sid=nope'), 400);
    assert.equal(await get('/'), 400);
    assert.equal(await get('/ws'), 400);
  });

  it('an unknown path or a wrong EIO or transport is refused at the handshake', T, async () => {
    for (const path of [
      '/socket.io/?EIO=3&transport=websocket',
      '/socket.io/?EIO=5&transport=websocket',
      '/socket.io/?transport=websocket',
      '/socket.io/?EIO=4&transport=polling',
      '/nowhere',
    ]) {
      const err = await Raw.open(roomd.port, { path }).then(
        (raw) => {
          raw.close();
          return new Error('accepted');
        },
        (e) => e,
      );
      assert.ok(err.status >= 400 && err.status < 500, `${path}: ${err.message}`);
    }
  });

  it('garbage instead of HTTP closes that connection', T, async () => {
    for (const junk of [
      crypto.randomBytes(4096),
      Buffer.from('\r\n\r\n'),
      Buffer.from('GET / HTTP/1.1\r\n' + 'X: y\r\n'.repeat(5000) + '\r\n'),
      Buffer.from('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'),
    ]) {
      const sock = net.connect(roomd.port, '127.0.0.1');
      sock.on('error', () => {});
      sock.resume();
      sock.end(junk);
      await withTimeout(new Promise((resolve) => sock.on('close', resolve)), WAIT_MS,
        `the server to close after ${JSON.stringify(junk.subarray(0, 20).toString())}`);
    }
  });

  it('a truncated frame, then hang-up', T, async () => {
    const { sock, closed } = await upgraded();
    const f = frame(1, Buffer.from('40' + ' '.repeat(200)));
    sock.end(f.subarray(0, 20));
    assert.equal(await closed(), null);
  });

  it('a truncated frame, then silence, does not block others', T, async () => {
    const { sock } = await upgraded();
    sock.write(frame(1, Buffer.from('40' + ' '.repeat(200))).subarray(0, 3));
    const s = await connect(roomd.url);
    assert.equal((await ack(s, 'join', 'meanwhile')).data.members, 1);
    s.close();
    sock.destroy();
  });

  // wslay answers some framing errors with a close frame without a status
  // code (seen as 1005): either is a clean close.
  it('broken frames are closed with 1002', T, async () => {
    for (const bytes of [
      frame(1, Buffer.from('40'), { mask: false }), // client frames must be masked
      frame(3, Buffer.from('40')), // reserved opcode
      Buffer.concat([Buffer.from([0xc1]), frame(1, Buffer.from('40')).subarray(1)]), // RSV1 without an extension
      frame(9, Buffer.alloc(200)), // control frame over 125 bytes
      frame(8, Buffer.from([0x03])), // close frame with a one-byte body
      frame(1, Buffer.from([0x34, 0x32, 0xff, 0xfe])), // text that is not UTF-8
      frame(0, Buffer.from('x')), // continuation with nothing to continue
    ]) {
      const { sock, closed } = await upgraded();
      sock.write(bytes);
      const code = await closed();
      assert.ok([1002, 1005, 1007].includes(code), `${bytes.toString('hex').slice(0, 40)}: ${code}`);
    }
  });

  it('an oversize frame is closed with 1009', T, async () => {
    // Announced: a header and the first bytes of 1 TiB.
    const { sock, closed } = await upgraded();
    const head = Buffer.alloc(14 + 16);
    head[0] = 0x81;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(1n << 40n, 2);
    sock.write(head);
    assert.equal(await closed(), 1009);
    // Sent: one byte past maxPayload.
    const raw = await rawSession(roomd.port);
    raw.send('4' + 'x'.repeat(1000000));
    assert.equal((await raw.closed()).code, 1009);
    // Fragmented: each fragment small, the message too big.
    const frag = await rawSession(roomd.port);
    const piece = 'x'.repeat(100000);
    for (let i = 0; i < 11; i++) frag.ws.send(piece, { fin: i === 10 });
    assert.equal((await frag.closed()).code, 1009);
  });

  it('invalid JSON after 42 closes that session only', T, async () => {
    const witness = await rawSession(roomd.port);
    for (const packet of ['42[', '42["join"', '42{]', '42["join","a"', '42nul', '42["join",NaN]']) {
      const raw = await rawSession(roomd.port);
      raw.send(packet);
      await raw.closed();
    }
    witness.send('421["join","w"]');
    assert.match(await witness.next(), /^431\[/);
    witness.close();
  });

  it('events before CONNECT close the session', T, async () => {
    for (const packet of ['42["join","x"]', '421["join","x"]', '43["x"]', '41']) {
      const raw = await Raw.open(roomd.port);
      assert.equal((await raw.next())[0], '0');
      raw.send(packet);
      await raw.closed();
    }
  });

  it('joins past the limit get error events, nothing worse', T, async () => {
    const s = await connect(roomd.url);
    // 128 rooms per connection; all of them and three more within roomd's
    // default burst of 200 messages (its rate limit is tested in C).
    const N = 190;
    for (let i = 0; i < N; i++) s.emit('join', `many-${i}`);
    await received(s, 'error', N - 128, 15000);
    const ok = s.events.filter((e) => e.event === 'result');
    const errors = s.events.filter((e) => e.event === 'error');
    assert.equal(ok.length, 128);
    assert.equal(errors.length, N - 128);
    assert.deepEqual(errors[0].args[0].data, { code: 'limit', event: 'join' });
    assert.equal((await ack(s, 'join', 'one-more')).data.code, 'limit');
    assert.equal((await ack(s, 'leave', 'many-0')).msg, 'Left room');
    assert.equal((await ack(s, 'join', 'one-more')).msg, 'Joined room');
    s.close();
  });
});
