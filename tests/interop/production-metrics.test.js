'use strict';
// GET /metrics (examples/roomd/metrics.c), read with a real Prometheus text
// parser, moving as clients connect, join, send and are refused; GET /healthz.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const parsePrometheus = require('parse-prometheus-text-format');
const { roomdSuite, connect, ack, next, Raw, httpOnce, pollOpen, sleep, WAIT_MS } = require('./helpers');

const T = { timeout: 20000 };

// A token for --auth-secret (examples/roomd/auth.h).
function mint(secret, claims) {
  const b64url = (b) => Buffer.from(b).toString('base64url');
  const payload = b64url(JSON.stringify(claims));
  return `${payload}.${b64url(crypto.createHmac('sha256', secret).update(payload).digest())}`;
}

// The scrape, parsed: {name: {type, help, samples: [{labels, value}]}}.
async function scrape(port) {
  const res = await httpOnce(port, 'GET', '/metrics');
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const text = res.body.toString();
  const out = {};
  for (const family of parsePrometheus(text)) {
    assert.ok(family.help, `${family.name} has HELP`);
    assert.match(family.name, /^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
    if (family.type === 'COUNTER') assert.match(family.name, /_total$/);
    out[family.name] = {
      type: family.type,
      samples: family.metrics.map((m) => ({ labels: m.labels || {}, value: Number(m.value) })),
    };
  }
  // Every sample line belongs to a family the parser returned.
  for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
    assert.ok(out[line.split(/[{ ]/)[0]], line);
  }
  return out;
}

// One sample's value; `labels` must match exactly.
function value(m, name, labels = {}) {
  assert.ok(m[name], `metric ${name} missing`);
  const s = m[name].samples.find((x) => JSON.stringify(x.labels) === JSON.stringify(labels));
  assert.ok(s, `${name}${JSON.stringify(labels)} missing`);
  return s.value;
}

// Scrapes until `pred(metrics)` holds (the server counts as it serves).
async function until(port, pred, what) {
  const end = Date.now() + WAIT_MS;
  for (;;) {
    const m = await scrape(port);
    if (pred(m)) return m;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('metrics', () => {
  const suite = roomdSuite(['--protocol', 'rooms']);

  it('has the documented families with their types', T, async () => {
    const m = await scrape(suite.roomd.port);
    const types = {
      roomd_build_info: 'GAUGE',
      roomd_draining: 'GAUGE',
      roomd_connections: 'GAUGE',
      roomd_sockets: 'GAUGE',
      roomd_hub_connections: 'GAUGE',
      roomd_rooms: 'GAUGE',
      roomd_members: 'GAUGE',
      roomd_messages_received_total: 'COUNTER',
      roomd_messages_sent_total: 'COUNTER',
      roomd_deliveries_total: 'COUNTER',
      roomd_library_memory_bytes: 'GAUGE',
      roomd_bytes_queued_total: 'COUNTER',
      roomd_bytes_pending: 'GAUGE',
      roomd_slow_consumer_closes_total: 'COUNTER',
      roomd_ping_timeouts_total: 'COUNTER',
      roomd_refusals_total: 'COUNTER',
      roomd_handshake_failures_total: 'COUNTER',
      roomd_http_requests_total: 'COUNTER',
      process_resident_memory_bytes: 'GAUGE',
      process_virtual_memory_bytes: 'GAUGE',
      process_start_time_seconds: 'GAUGE',
    };
    for (const [name, type] of Object.entries(types)) assert.equal(m[name]?.type, type, name);
    // A single node has no cluster link to report.
    assert.equal(m.roomd_redis_up, undefined);
    assert.equal(value(m, 'roomd_draining'), 0);
    assert.ok(value(m, 'process_resident_memory_bytes') > 1 << 20);
    assert.ok(Math.abs(value(m, 'process_start_time_seconds') - Date.now() / 1000) < 600);
    assert.deepEqual(
      m.roomd_refusals_total.samples.map((s) => s.labels.reason).sort(),
      ['connect_refused', 'max_connections', 'queue_full', 'rate_limited'],
    );
    assert.deepEqual(
      m.roomd_rooms.samples.map((s) => s.labels.hub),
      ['socket.io/', 'socket.io/admin', 'ws'],
    );
    assert.equal(m.roomd_build_info.samples[0].value, 1);
    assert.match(m.roomd_build_info.samples[0].labels.version, /^\d+\.\d+\.\d+/);
  });

  it('moves as clients connect, join, send and leave', T, async () => {
    const port = suite.roomd.port;
    const sio = { hub: 'socket.io/' };
    const ws = { hub: 'ws' };
    const before = await scrape(port);
    const ws0 = value(before, 'roomd_connections', { transport: 'websocket' });
    const in0 = value(before, 'roomd_messages_received_total', sio);
    const del0 = value(before, 'roomd_deliveries_total', sio);
    const q0 = value(before, 'roomd_bytes_queued_total');

    const a = await connect(suite.roomd.url);
    const b = await connect(suite.roomd.url);
    const j = await Raw.open(port, { path: '/ws' });
    try {
      let m = await until(port, (x) => value(x, 'roomd_hub_connections', sio) === 2 && value(x, 'roomd_hub_connections', ws) === 1, 'three connections');
      assert.equal(value(m, 'roomd_connections', { transport: 'websocket' }), ws0 + 3);
      assert.equal(value(m, 'roomd_rooms', sio), 0);

      await ack(a, 'join', 'm1');
      await ack(b, 'join', 'm1');
      await ack(a, 'join', 'm2');
      j.send(JSON.stringify({ event: 'join', data: 'w1', id: 1 }));
      await j.next();
      m = await scrape(port);
      assert.equal(value(m, 'roomd_rooms', sio), 2);
      assert.equal(value(m, 'roomd_members', sio), 3);
      assert.equal(value(m, 'roomd_rooms', ws), 1);
      assert.equal(value(m, 'roomd_members', ws), 1);

      // a sends to a room of two: one message in, one encoded for both,
      // the ack and the event delivered.
      const mid = await scrape(port);
      await next(a, 'member-joined');
      await ack(a, 'send', 'm1', { text: 'hi' });
      await next(b, 'message');
      m = await scrape(port);
      assert.equal(value(m, 'roomd_messages_received_total', sio), value(mid, 'roomd_messages_received_total', sio) + 1);
      assert.ok(value(m, 'roomd_messages_sent_total', sio) >= value(mid, 'roomd_messages_sent_total', sio) + 2);
      assert.ok(value(m, 'roomd_deliveries_total', sio) >= value(mid, 'roomd_deliveries_total', sio) + 2);
      assert.ok(value(m, 'roomd_messages_received_total', sio) > in0);
      assert.ok(value(m, 'roomd_deliveries_total', sio) > del0);
      assert.ok(value(m, 'roomd_bytes_queued_total') > q0);
      assert.ok(value(m, 'roomd_http_requests_total') > value(before, 'roomd_http_requests_total'));

      a.close();
      m = await until(port, (x) => value(x, 'roomd_hub_connections', sio) === 1, 'a to leave');
      assert.equal(value(m, 'roomd_members', sio), 1);
      assert.equal(value(m, 'roomd_rooms', sio), 1);
    } finally {
      a.close();
      b.close();
      j.close();
    }
    await until(port, (x) => value(x, 'roomd_connections', { transport: 'websocket' }) === ws0, 'everyone to leave');
  });

  it('counts polling sessions, handshake failures and HTTP requests', T, async () => {
    const port = suite.roomd.port;
    const before = await scrape(port);
    await pollOpen(port);
    const bad = await httpOnce(port, 'GET', '/socket.io/?EIO=9&transport=polling');
    assert.equal(bad.status, 400);
    await assert.rejects(Raw.open(port, { path: '/socket.io/?EIO=4&transport=bogus' }));
    const m = await scrape(port);
    assert.equal(value(m, 'roomd_connections', { transport: 'polling' }), value(before, 'roomd_connections', { transport: 'polling' }) + 1);
    assert.equal(value(m, 'roomd_handshake_failures_total'), value(before, 'roomd_handshake_failures_total') + 2);
    assert.ok(value(m, 'roomd_http_requests_total') >= value(before, 'roomd_http_requests_total') + 3);
  });

  it('answers /healthz with 200 and HEAD too; other methods of /metrics get 405', T, async () => {
    const h = await httpOnce(suite.roomd.port, 'GET', '/healthz');
    assert.equal(h.status, 200);
    assert.equal(h.body.toString(), 'ok\n');
    assert.equal(h.headers['cache-control'], 'no-store');
    const p = await httpOnce(suite.roomd.port, 'POST', '/metrics');
    assert.equal(p.status, 405);
  });
});

describe('metrics of refusals', () => {
  const suite = roomdSuite(['--protocol', 'rooms', '--msg-rate', '1', '--auth-secret', 'metrics-test-secret']);

  it('counts rate-limited messages and refused connects by reason', T, async () => {
    const port = suite.roomd.port;
    const reason = (m, r) => value(m, 'roomd_refusals_total', { reason: r });
    const before = await scrape(port);
    // No token: the connect handler refuses.
    await assert.rejects(connect(suite.roomd.url, { auth: { userId: 'x' } }));
    let m = await until(port, (x) => reason(x, 'connect_refused') === reason(before, 'connect_refused') + 1, 'a refused connect');
    // /ws takes its token from the query: a flood over the rate (1 a
    // second, bursts of 2).
    const token = mint('metrics-test-secret', { userId: 'u1', exp: Math.floor(Date.now() / 1000) + 600, rooms: ['*'] });
    const j = await Raw.open(port, { path: `/ws?token=${encodeURIComponent(token)}` });
    try {
      for (let i = 0; i < 6; i++) j.send(JSON.stringify({ event: 'echo', data: i, id: i + 1 }));
      m = await until(port, (x) => reason(x, 'rate_limited') >= reason(before, 'rate_limited') + 3, 'rate-limited messages');
      assert.ok(value(m, 'roomd_messages_received_total', { hub: 'ws' }) >= 6);
    } finally {
      j.close();
    }
  });
});
