'use strict';
// Bad Socket.IO and Engine.IO packets on a raw WebSocket, and room-name
// abuse through the rooms protocol.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { abuseSuite, within } = require('./abuse');
const { RawWs } = require('./raw');
const { connect, ack } = require('../interop/helpers');

const EIO = '/socket.io/?EIO=4&transport=websocket';

describe('abuse: Socket.IO packets and room names', () => {
  const suite = abuseSuite(['--protocol', 'rooms']);

  // A session connected to "/", then `packet`: resolves with the close code
  // or, if the session survives 300 ms, with "open".
  async function after(packet) {
    const c = new RawWs(suite.roomd.port, EIO, { keep: true });
    assert.equal(await within(c.status, 3000, 'the 101'), 101);
    await within(c.text('0{'), 3000, 'the open packet');
    c.sendText('40');
    await within(c.text('40{'), 3000, 'CONNECT');
    c.sendText(packet);
    const code = await Promise.race([c.end, new Promise((r) => setTimeout(() => r('open'), 300))]);
    c.destroy();
    return code;
  }

  suite.abuse('malformed packets end the session, as Socket.IO servers do', async () => {
    const closing = [
      '42', '42[', '42{"a":1}', '42[1]', '42[]', '42["ev"', '4x', '49', '4-', '42/nope,["ev"]',
      '43["no id"]', '4299999999999999999999["echo"]',
      '8', 'x', '',
      // Strings with NUL are not taken (jansson without JSON_ALLOW_NUL).
      '42["join","a\\u0000b"]',
    ];
    const codes = await Promise.all(closing.map(after));
    closing.forEach((p, i) => assert.notEqual(codes[i], 'open', `${JSON.stringify(p)} left the session open`));
    closing.forEach((p, i) => assert.ok([1000, 1002, 1003, 1008, null].includes(codes[i]), `${p}: ${codes[i]}`));
    return `${closing.length} kinds: session closed (codes ${[...new Set(codes)].join(', ')})`;
  });

  suite.abuse('room-name abuse is answered with an error code', async () => {
    const s = await connect(suite.roomd.url);
    try {
      const code = async (...args) => (await ack(s, ...args)).data.code;
      assert.equal(await code('join', ''), 'bad_room_name');
      assert.equal(await code('join', 'x'.repeat(300000)), 'bad_room_name');
      assert.equal(await code('join', 5), 'bad_message');
      assert.equal(await code('join', { room: ['a'] }), 'bad_message');
      assert.equal((await ack(s, 'join', 'r')).msg, 'Joined room');
      assert.equal(await code('join', 'r'), 'already_member');
      for (let i = 0; i < 127; i++) assert.equal((await ack(s, 'join', `r${i}`)).msg, 'Joined room');
      assert.equal(await code('join', 'one too many'), 'limit');
      assert.equal(await code('send', 'not mine', 1), 'not_member');
    } finally {
      s.close();
    }
    // Over the JSON codec, where bad JSON is answered rather than closed.
    const w = new RawWs(suite.roomd.port, '/ws', { keep: true });
    assert.equal(await within(w.status, 3000, 'the 101'), 101);
    for (const name of ['\\ud800', 'a\\u0000b']) {
      w.sendText(`{"event":"join","data":"${name}"}`);
      assert.match(await within(w.text('{"event":"error"'), 3000, 'the error'), /"code":"bad_json"/);
    }
    w.sendText('{"event":"join","data":"ok"}');
    assert.match(await within(w.text('{"event":"result"'), 3000, 'the join'), /Joined room/);
    w.destroy();
    return 'empty, 300 KB, non-string: bad_room_name/bad_message; lone surrogate or NUL: bad_json over /ws, session closed over Socket.IO; 129th room: limit';
  });
});
