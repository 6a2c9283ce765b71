'use strict';
// Hostile upgrades: malformed requests, header floods, slowloris, mass resets.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { abuseSuite, within, sleep } = require('./abuse');
const { RawWs, request } = require('./raw');

const HANDSHAKE_TIMEOUT_MS = 1000;
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const good = (lines, eol = '\r\n') => lines.join(eol) + eol + eol;
const base = (path = '/socket.io/?EIO=4&transport=websocket') => [
  `GET ${path} HTTP/1.1`,
  'Host: 127.0.0.1',
  'Upgrade: websocket',
  'Connection: Upgrade',
  `Sec-WebSocket-Key: ${KEY}`,
  'Sec-WebSocket-Version: 13',
];

describe('abuse: handshake', () => {
  const suite = abuseSuite(['--protocol', 'rooms', '--handshake-timeout', String(HANDSHAKE_TIMEOUT_MS)]);
  const port = () => suite.roomd.port;

  suite.abuse('malformed upgrades get 400', async () => {
    const bad = {
      'POST': good(['POST /ws HTTP/1.1', ...base().slice(1)]),
      'HTTP/1.0': good(['GET /ws HTTP/1.0', ...base().slice(1)]),
      'no Upgrade': good(base('/ws').filter((l) => !l.startsWith('Upgrade'))),
      'no key': good(base('/ws').filter((l) => !l.startsWith('Sec-WebSocket-Key'))),
      'two keys': good([...base('/ws'), `Sec-WebSocket-Key: ${KEY}`]),
      'short key': good(base('/ws').map((l) => (l.startsWith('Sec-WebSocket-Key') ? 'Sec-WebSocket-Key: YQ==' : l))),
      'version 8': good(base('/ws').map((l) => (l.startsWith('Sec-WebSocket-Version') ? 'Sec-WebSocket-Version: 8' : l))),
      'unknown path': good(base('/nowhere')),
      'EIO=3': good(base('/socket.io/?EIO=3&transport=websocket')),
      'polling': good(base('/socket.io/?EIO=4&transport=polling')),
      'sid': good(base('/socket.io/?EIO=4&transport=websocket&sid=abc')),
      'bad query': good(base('/ws?a=%zz')),
      'space before colon': good([...base('/ws'), 'X-A : b']),
      'folded header': good([...base('/ws'), 'X-A: b', ' c']),
      'NUL in a value': good([...base('/ws'), 'X-A: b\0c']),
      'LF-only': good(base('/ws'), '\n'),
      'bare CR': good([...base('/ws'), 'X-A: b\rc']),
      'request line junk': good(['GET  /ws HTTP/1.1', ...base().slice(1)]),
      'binary garbage': Buffer.concat([Buffer.from([0x16, 3, 1, 0, 0xff]), Buffer.alloc(300, 0xab), Buffer.from('\r\n\r\n')]),
    };
    const statuses = await Promise.all(
      Object.entries(bad).map(async ([what, head]) => {
        const c = new RawWs(port(), null, { head });
        const status = await within(c.status, 3000, what);
        await within(c.end, 3000, `${what}: connection end`);
        return [what, status];
      }),
    );
    for (const [what, status] of statuses) assert.equal(status, 400, what);
    return `${statuses.length} kinds, each 400 then FIN`;
  });

  suite.abuse('header flood: heads over 8 KiB get 431', async () => {
    const flood = good([...base('/ws'), ...Array.from({ length: 400 }, (_, i) => `X-Flood-${i}: ${'v'.repeat(40)}`)]);
    const huge = good([...base('/ws'), `X-Big: ${'v'.repeat(100000)}`]);
    const clients = [];
    for (let i = 0; i < 50; i++) clients.push(new RawWs(port(), null, { head: i % 2 ? flood : huge }));
    const statuses = await within(Promise.all(clients.map((c) => c.status)), 10000, 'the 431s');
    assert.deepEqual(new Set(statuses), new Set([431]));
    clients.forEach((c) => c.destroy());
    return '50 connections (400 headers / one 100 KB header): 431 "request too large"';
  });

  suite.abuse('slowloris: requests trickled past the handshake timeout are cut', async () => {
    const head = Buffer.from(request('/ws'));
    const clients = Array.from({ length: 20 }, () => new RawWs(port(), null, { head: null }));
    const started = Date.now();
    let sent = 0;
    // One byte per connection every 100 ms: the head would take 13 s.
    while (!clients.every((c) => c.ended) && Date.now() - started < HANDSHAKE_TIMEOUT_MS * 4) {
      clients.forEach((c) => c.send(head.subarray(sent, sent + 1)));
      sent++;
      await sleep(100);
    }
    const took = Date.now() - started;
    assert.ok(clients.every((c) => c.ended), 'every trickling connection was cut');
    assert.ok(clients.every((c) => !c.upgraded));
    assert.ok(took >= HANDSHAKE_TIMEOUT_MS - 100 && took < HANDSHAKE_TIMEOUT_MS * 3, `${took} ms`);
    return `20 connections at 10 bytes/s: all cut after ${took} ms (timeout ${HANDSHAKE_TIMEOUT_MS} ms), no 101`;
  });

  suite.abuse('mass resets: 500 connections reset at every stage', async () => {
    const clients = [];
    for (let i = 0; i < 500; i++) {
      const stage = i % 3;
      // 0: reset before the request; 1: in the middle of it; 2: after the 101.
      const c = new RawWs(port(), '/socket.io/?EIO=4&transport=websocket', {
        head: stage === 0 ? null : stage === 1 ? request('/ws').slice(0, 40) : undefined,
      });
      clients.push([c, stage]);
    }
    await within(Promise.all(clients.filter(([, s]) => s === 2).map(([c]) => c.status)), 10000, 'the 101s');
    await sleep(50);
    clients.forEach(([c]) => c.reset());
    await within(Promise.all(clients.map(([c]) => c.end)), 5000, 'the resets');
    // The server is still accepting and upgrading.
    const after = new RawWs(port(), '/ws');
    assert.equal(await within(after.status, 3000, 'a new upgrade'), 101);
    after.destroy();
    return '500 RSTs (before, during, after the handshake); new upgrades still 101';
  });
});
