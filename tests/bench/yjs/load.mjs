// The yjs benchmark's client load, the same for every server (run.sh):
// ROOMS rooms x CLIENTS clients, each sending small Yjs updates (typing:
// 11 characters appended to its Y.Text per update, real updates made by
// the `yjs` package beforehand) at RATE updates a second, for SECONDS.
// Every client counts the updates of the others it receives and their
// latency: an update carries "@<client><seq>" in its text, which every
// server relays verbatim (the inserted string is in the update's bytes),
// and the sender's clock is in this process.
//
// Protocols: "yws" (y-websocket: roomd /yjs/<room>, @y/websocket-server
// /<room>) and "hocuspocus" (every message prefixed by the document's
// name, an auth message first).
//
// Prints one JSON line: sent, expected and received deliveries, relays/s,
// latency percentiles (ms), and the connect and sync time.
import * as Y from 'yjs';
import WebSocket from 'ws';
import fs from 'node:fs';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const url = arg('url');
const proto = arg('proto', 'yws');
const ROOMS = Number(arg('rooms', 100));
const CLIENTS = Number(arg('clients', 10));
const RATE = Number(arg('rate', 5));
const SECONDS = Number(arg('seconds', 10));
const N = ROOMS * CLIENTS;
const PER = Math.ceil(RATE * SECONDS) + 1;
const PID = Number(arg('pid', 0)); // the server's, for its memory and CPU

const varUint = (n) => {
  const out = [];
  while (n > 0x7f) {
    out.push(0x80 | (n & 0x7f));
    n >>>= 7;
  }
  out.push(n);
  return out;
};
const varString = (s) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from(varUint(b.length)), b]);
};
const roomName = (r) => `bench-${r}`;
// A y-websocket message, prefixed for Hocuspocus with its document's name.
const frame = (room, bytes) => (proto === 'hocuspocus' ? Buffer.concat([varString(roomName(room)), bytes]) : bytes);
const syncMsg = (type, payload) => Buffer.concat([Buffer.from([0, type, ...varUint(payload.length)]), payload]);

// The updates, made before the clock starts.
const t0gen = Date.now();
const updates = [];
for (let c = 0; c < N; c++) {
  const doc = new Y.Doc();
  const list = [];
  doc.on('update', (u) => list.push(frame(Math.floor(c / CLIENTS), syncMsg(2, Buffer.from(u)))));
  const text = doc.getText('t');
  for (let s = 0; s < PER; s++) text.insert(text.length, `@${String(c).padStart(4, '0')}${String(s).padStart(6, '0')}`);
  updates.push(list);
}
const genMs = Date.now() - t0gen;

const sentAt = new Float64Array(N * PER);
const sent = new Uint32Array(N);
let received = 0;
let lastReceived = 0;
let measuring = false;
const lat = []; // ms, of updates sent while measuring
const now = () => performance.now();

// The markers in a message: "@" then 10 digits.
function onMessage(self, buf) {
  let i = buf.indexOf(64);
  while (i >= 0 && i + 11 <= buf.length) {
    let ok = true;
    let c = 0;
    let s = 0;
    for (let k = 1; k <= 10 && ok; k++) {
      const d = buf[i + k] - 48;
      if (d < 0 || d > 9) ok = false;
      else if (k <= 4) c = c * 10 + d;
      else s = s * 10 + d;
    }
    if (ok && c < N && c !== self && s < sent[c]) {
      const t = sentAt[c * PER + s];
      if (t > 0) {
        received++;
        lastReceived = now();
        lat.push(lastReceived - t);
      }
      i = buf.indexOf(64, i + 11);
    } else {
      i = buf.indexOf(64, i + 1);
    }
  }
}

// The server's resident memory (bytes) and CPU time (s), from /proc.
const rss = () => (PID ? Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${PID}/status`, 'utf8'))[1]) * 1024 : 0);
const cpu = () => {
  if (!PID) return 0;
  const f = fs.readFileSync(`/proc/${PID}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 10 ms
};
const rssIdle = rss();

const sockets = new Array(N);
let synced = 0;
const t0 = now();
await new Promise((resolve, reject) => {
  let next = 0;
  const open = (c) => {
    const room = Math.floor(c / CLIENTS);
    const ws = new WebSocket(proto === 'hocuspocus' ? url : `${url}/${roomName(room)}`, { perMessageDeflate: false });
    sockets[c] = ws;
    let isSynced = false;
    ws.on('open', () => {
      if (proto === 'hocuspocus') ws.send(frame(room, Buffer.from([2, 0, 0]))); // auth: an empty token
      ws.send(frame(room, Buffer.from([0, 0, 1, 0]))); // sync step 1, empty state vector
      if (next < N) open(next++);
    });
    ws.on('message', (data) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!isSynced) {
        // The first sync step 2 (Hocuspocus: after the name).
        const at = proto === 'hocuspocus' ? varString(roomName(room)).length : 0;
        if (buf[at] === 0 && buf[at + 1] === 1) {
          isSynced = true;
          if (++synced === N) resolve();
        }
        // The server's step 1: answered with nothing.
        if (buf[at] === 0 && buf[at + 1] === 0) ws.send(frame(room, Buffer.from([0, 1, 2, 0, 0])));
      }
      onMessage(c, buf);
    });
    ws.on('error', reject);
  };
  // A few at a time, not a thousand SYNs at once.
  while (next < Math.min(50, N)) open(next++);
});
const syncMs = now() - t0;
const rssSynced = rss();

// The load: every 10 ms, each client sends what its rate owes.
const tick = 10;
const start = now();
let cpuStart = 0;
let ticks = 0;
await new Promise((resolve) => {
  const timer = setInterval(() => {
    ticks++;
    const elapsed = now() - start;
    if (elapsed >= SECONDS * 1000) {
      clearInterval(timer);
      resolve();
      return;
    }
    if (!measuring && elapsed >= 1000) cpuStart = cpu();
    measuring = elapsed >= 1000; // a second of warm-up
    for (let c = 0; c < N; c++) {
      // Spread over the period: client c is c/N of it behind client 0.
      const due = Math.min(PER, Math.floor((elapsed / 1000) * RATE + c / N) + 1);
      while (sent[c] < due) {
        const s = sent[c];
        sentAt[c * PER + s] = measuring ? now() : -1;
        sent[c]++;
        sockets[c].send(updates[c][s]);
      }
    }
  }, tick);
});
const sendEnd = now();
let sentMeasured = 0;
for (let c = 0; c < N; c++) for (let s = 0; s < sent[c]; s++) if (sentAt[c * PER + s] > 0) sentMeasured++;
// Drain: at most 10 s more, until every delivery has come.
const expected = sentMeasured * (CLIENTS - 1);
while (received < expected && now() - sendEnd < 10000) await new Promise((r) => setTimeout(r, 50));
const window = (sendEnd - start - 1000) / 1000;
const serverCpu = cpu() - cpuStart;
const rssLoaded = rss();
lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? +lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))].toFixed(2) : null);
console.log(JSON.stringify({
  proto, rooms: ROOMS, clients: CLIENTS, rate: RATE, seconds: SECONDS,
  sent: sentMeasured, expected, received, missing: expected - received,
  offered_updates_per_s: Math.round(sentMeasured / window),
  // Deliveries over the time from the first update measured to the last
  // delivery: a server that falls behind stretches it.
  relayed_per_s: Math.round(received / ((lastReceived - start - 1000) / 1000)),
  p50_ms: pct(50), p99_ms: pct(99), max_ms: pct(100),
  connect_sync_ms: Math.round(syncMs), generate_ms: genMs,
  // Server CPU over the measured part and the drain: the efficiency figure
  // when the load generator, not the server, is the bottleneck.
  server_cpu_s: +serverCpu.toFixed(2),
  relays_per_server_cpu_s: serverCpu > 0 ? Math.round(received / serverCpu) : null,
  rss_idle_mb: +(rssIdle / 1048576).toFixed(1),
  rss_synced_mb: +(rssSynced / 1048576).toFixed(1),
  rss_loaded_mb: +(rssLoaded / 1048576).toFixed(1),
  // Per document: its 10 connections and its content, above the idle server.
  bytes_per_doc: PID ? Math.round((rssLoaded - rssIdle) / ROOMS) : null,
}));
for (const ws of sockets) ws.terminate();
process.exit(0);
