'use strict';
// Engine.IO v4 / Socket.IO v5 conformance, with a raw WebSocket client
// written from the protocol documents rather than from socket.io-client:
//   https://github.com/socketio/engine.io-protocol (v4)
//   https://github.com/socketio/socket.io-protocol (v5)
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startRoomd, speaks, connect, ack, Raw, rawSession, withTimeout } = require('./helpers');

const T = { timeout: 15000 };
const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
// Timers may run late by a loop iteration or a scheduler hiccup.
const SLACK = 1000;

describe('Engine.IO v4 / Socket.IO v5 conformance', () => {
  let roomd;

  before(async () => {
    roomd = await startRoomd([
      '--protocol', 'rooms',
      '--ping-interval', String(PING_INTERVAL),
      '--ping-timeout', String(PING_TIMEOUT),
    ]);
  });
  after(async () => {
    const exit = await roomd.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, roomd.stderr());
  });

  // Proves the server still serves others: a full join round trip.
  async function alive() {
    const raw = await rawSession(roomd.port);
    raw.send('4299["join","alive"]');
    assert.match(await raw.next(), /^4399\[\{"msg":"Joined room"/);
    raw.close();
  }

  describe('Engine.IO', () => {
    it('the open packet carries sid, upgrades, pingInterval, pingTimeout, maxPayload', T, async () => {
      const raw = await Raw.open(roomd.port);
      const open = await raw.next();
      assert.equal(open[0], '0');
      const h = JSON.parse(open.slice(1));
      assert.deepEqual(Object.keys(h).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
      assert.match(h.sid, /^[A-Za-z0-9_-]{20}$/);
      assert.deepEqual(h.upgrades, []);
      assert.equal(h.pingInterval, PING_INTERVAL);
      assert.equal(h.pingTimeout, PING_TIMEOUT);
      assert.equal(h.maxPayload, 1000000);
      const other = await Raw.open(roomd.port);
      assert.notEqual(JSON.parse((await other.next()).slice(1)).sid, h.sid);
      raw.close();
      other.close();
    });

    it('pings every pingInterval; answered pongs keep the session', T, async () => {
      const raw = await rawSession(roomd.port, { autoPong: false });
      let first;
      for (let i = 0; i < 3; i++) {
        assert.equal(await raw.next(PING_INTERVAL + SLACK), '2');
        first ??= Date.now();
        raw.send('3');
      }
      // A pong schedules the next ping a full interval later, not earlier.
      assert.ok(Date.now() - first >= 2 * PING_INTERVAL - 100);
      raw.send('421["join","hb"]');
      assert.match(await raw.next(), /^431\[/);
      raw.close();
    });

    it('closes a session that does not answer the ping in pingTimeout', T, async () => {
      const raw = await rawSession(roomd.port, { autoPong: false });
      assert.equal(await raw.next(PING_INTERVAL + SLACK), '2');
      const pinged = Date.now();
      await raw.closed(PING_TIMEOUT + SLACK);
      assert.ok(Date.now() - pinged >= PING_TIMEOUT - 50);
    });

    it('a noop packet is accepted, a client ping or upgrade is not', T, async () => {
      const raw = await rawSession(roomd.port);
      raw.send('6');
      raw.send('421["join","noop"]');
      assert.match(await raw.next(), /^431\[/);
      for (const packet of ['2', '5', '7', '']) {
        const r = await rawSession(roomd.port);
        r.send(packet);
        await r.closed();
      }
      raw.close();
    });

    it('a close packet ends the session', T, async () => {
      const raw = await rawSession(roomd.port);
      raw.send('1');
      await raw.closed();
    });
  });

  describe('Socket.IO', () => {
    it('CONNECT to "/" answers with a sid of its own', T, async () => {
      const raw = await rawSession(roomd.port);
      assert.match(raw.sid, /^[A-Za-z0-9_-]{20}$/);
      assert.notEqual(raw.sid, raw.handshake.sid);
      raw.close();
    });

    it('CONNECT to /admin, events and acks within it', T, async () => {
      const raw = await rawSession(roomd.port);
      raw.send('40/admin,');
      const connected = await raw.next();
      assert.match(connected, /^40\/admin,\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
      const sid = JSON.parse(connected.slice('40/admin,'.length)).sid;
      raw.send('42/admin,7["join","ops"]');
      assert.deepEqual(JSON.parse((await raw.next()).replace(/^43\/admin,7/, '')), [
        { msg: 'Joined room', data: { room: 'ops', members: 1, event: 'join' } },
      ]);
      raw.send('42/admin,["send","ops","x"]');
      assert.deepEqual(JSON.parse((await raw.next()).replace(/^42\/admin,/, '')), [
        'message',
        { msg: 'Message', data: { room: 'ops', from: sid, data: 'x' } },
      ]);
      assert.deepEqual(JSON.parse((await raw.next()).replace(/^42\/admin,/, '')), [
        'result',
        { msg: 'Sent', data: { room: 'ops', delivered: 1, event: 'send' } },
      ]);
      // "/" is untouched by it.
      raw.send('4211["send","ops","x"]');
      assert.equal(JSON.parse((await raw.next()).slice(4))[0].data.code, 'not_member');
      raw.close();
    });

    it('CONNECT with a payload-less namespace form ("40/admin")', T, async () => {
      const raw = await rawSession(roomd.port);
      raw.send('40/admin');
      assert.match(await raw.next(), /^40\/admin,\{"sid":/);
      raw.close();
    });

    it('an unknown namespace gets CONNECT_ERROR "Invalid namespace"', T, async () => {
      const raw = await rawSession(roomd.port);
      raw.send('40/x,');
      assert.equal(await raw.next(), '44/x,{"message":"Invalid namespace"}');
      // The session itself goes on.
      raw.send('421["join","after-44"]');
      assert.match(await raw.next(), /^431\[/);
      raw.close();
    });

    it('DISCONNECT leaves a namespace, the session stays', T, async () => {
      const raw = await rawSession(roomd.port);
      raw.send('40/admin,');
      await raw.next();
      raw.send('41/admin,');
      raw.send('421["join","after-41"]');
      assert.match(await raw.next(), /^431\[/);
      raw.close();
    });

    it('acks: the server answers with ACK and the same id', T, async () => {
      const raw = await rawSession(roomd.port);
      raw.send('42123456789["join","acks"]');
      const reply = await raw.next();
      assert.ok(reply.startsWith('43123456789['), reply);
      assert.deepEqual(JSON.parse(reply.slice('43123456789'.length)), [
        { msg: 'Joined room', data: { room: 'acks', members: 1, event: 'join' } },
      ]);
      raw.close();
    });

    it('events reach another raw session', T, async () => {
      const a = await rawSession(roomd.port);
      const b = await rawSession(roomd.port);
      a.send('421["join","ev"]');
      await a.next();
      b.send('421["join","ev"]');
      await b.next();
      assert.deepEqual(JSON.parse((await a.next()).slice(2)), [
        'member-joined',
        { msg: 'Member joined', data: { room: 'ev', id: b.sid } },
      ]);
      b.send('42["send","ev",{"k":[1,"é",null]}]');
      const expected = ['message', { msg: 'Message', data: { room: 'ev', from: b.sid, data: { k: [1, 'é', null] } } }];
      assert.deepEqual(JSON.parse((await a.next()).slice(2)), expected);
      a.close();
      b.close();
    });

    it('binary attachments: BINARY_EVENT in, BINARY_EVENT out with the same bytes', T, async () => {
      const a = await rawSession(roomd.port);
      const b = await rawSession(roomd.port);
      a.send('421["join","bin"]');
      await a.next();
      b.send('421["join","bin"]');
      await b.next();
      await a.next(); // member-joined
      const one = Buffer.from([1, 2, 3, 0, 255]);
      const two = Buffer.alloc(70000, 7);
      a.send('452-5["send","bin",{"one":{"_placeholder":true,"num":0},"two":{"_placeholder":true,"num":1}}]');
      a.send(one);
      a.send(two);
      for (const raw of [a, b]) {
        const head = await raw.next();
        assert.ok(head.startsWith('452-["message",'), head);
        assert.deepEqual(JSON.parse(head.slice('452-'.length)), [
          'message',
          {
            msg: 'Message',
            data: {
              room: 'bin',
              from: a.sid,
              data: { one: { _placeholder: true, num: 0 }, two: { _placeholder: true, num: 1 } },
            },
          },
        ]);
        assert.deepEqual(await raw.next(), one);
        assert.deepEqual(await raw.next(), two);
      }
      // The ack is a text ACK.
      assert.equal(JSON.parse((await a.next()).slice(3))[0].data.delivered, 2);
      a.close();
      b.close();
    });

    it('invalid packets close only that session', T, async () => {
      const witness = await rawSession(roomd.port);
      witness.send('421["join","inv"]');
      await witness.next();
      const bad = [
        '4', // no Socket.IO packet
        '49', // no such packet type
        '42', // EVENT without payload
        '42{"not":"an array"}',
        '42[]', // no event name
        '42[1,2]', // event name not a string
        '42["join","a"]x', // trailing bytes
        '41/nowhere,', // namespace not connected
        '40/admin,"auth"', // auth not an object
        '4a', // Engine.IO ok, Socket.IO garbage
      ];
      for (const packet of bad) {
        const raw = await rawSession(roomd.port);
        raw.send(packet);
        const { code } = await raw.closed();
        assert.ok(code >= 1000, `${packet}: ${code}`);
      }
      // An attachment that was never announced.
      const raw = await rawSession(roomd.port);
      raw.send(Buffer.from([1, 2, 3]));
      await raw.closed();
      // A placeholder past the attachments.
      const raw1 = await rawSession(roomd.port);
      raw1.send('451-["send","inv",{"_placeholder":true,"num":3}]');
      raw1.send(Buffer.from([1]));
      await raw1.closed();
      // Text where an attachment is due.
      const raw2 = await rawSession(roomd.port);
      raw2.send('451-["send","inv",{"_placeholder":true,"num":0}]');
      raw2.send('42["join","x"]');
      await raw2.closed();
      witness.send('422["send","inv","still here"]');
      const msg = JSON.parse((await witness.next()).slice(2));
      assert.equal(msg[1].data.data, 'still here');
      witness.close();
      await alive();
    });
  });

  it('connect errors carry the refusal message and data', { ...T, skip: !speaks('classroom') }, async () => {
    const classroom = await startRoomd(['--protocol', 'classroom']);
    try {
      const raw = await Raw.open(classroom.port);
      await raw.next();
      raw.send('40{"room":"r","ID":"1","role":"STUDENT","name":"n"}');
      assert.equal(await raw.next(), '44{"message":"ID must be an integer"}');
      raw.send('40');
      assert.equal(await raw.next(), '44{"message":"room must be a non-empty string"}');
      // Refused is not connected: events are a violation.
      raw.send('42["message",{"type":"t","value":1},1]');
      await raw.closed();
      const ok = await Raw.open(classroom.port);
      await ok.next();
      ok.send('40{"room":"r","ID":1,"role":"STUDENT","name":"n"}');
      assert.match(await ok.next(), /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
      assert.deepEqual(JSON.parse((await ok.next()).slice(2)), [
        'initial-response',
        { msg: 'Connected users', data: [{ ID: 1, role: 'STUDENT', name: 'n' }] },
      ]);
      ok.close();
    } finally {
      assert.deepEqual(await classroom.stop(), { code: 0, signal: null });
    }
  });

  it('SIGINT closes every connection with 1001 and exits 0', T, async () => {
    const own = await startRoomd(['--protocol', 'rooms']);
    const raw = await rawSession(own.port);
    const sio = await connect(own.url);
    await ack(sio, 'join', 'bye');
    const reason = withTimeout(new Promise((resolve) => sio.once('disconnect', resolve)), 5000, 'disconnect');
    const exit = await own.stop('SIGINT');
    assert.deepEqual(exit, { code: 0, signal: null }, own.stderr());
    assert.equal((await raw.closed()).code, 1001);
    assert.equal(await reason, 'transport close');
  });
});
