// The yjs benchmark's client load, the same for every server (run.sh):
// ROOMS rooms x CLIENTS clients, each sending small Yjs updates (typing:
// 11 characters appended to its Y.Text per update, real updates made by
// the `yjs` package beforehand) at RATE updates a second, for SECONDS.
// Every client counts the updates of the others it receives and their
// latency: an update carries "@<client><seq>" in its text, which every
// server relays verbatim (the inserted string is in the update's bytes).
//
// The clients are spread over PROCS worker threads, each with its own
// event loop (one Node loop cannot feed roomd); a room's clients share a
// worker (room r in worker r % PROCS), so sender and receivers read the
// same clock. The main thread starts the workers together, reads the
// server's CPU and memory from /proc, and adds up the counts and latency
// histograms.
//
// A relay counts as "on time" when it arrives within BOUND_MS of its send:
// relayed_per_s credits a server only with those, over the send window, so
// one that builds a backlog is not credited with what it still owes.
//
// Protocols: "yws" (y-websocket: roomd /yjs/<room>, @y/websocket-server
// /<room>) and "hocuspocus" (every message prefixed by the document's
// name, an auth message first).
//
// Prints one JSON line.
import * as Y from 'yjs';
import WebSocket from 'ws';
import fs from 'node:fs';
import os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

// Latency histogram: bucket i holds latencies of about 2^(i/64) - 1 us
// (1 % steps, up to 2^(H/64) us, about 16 s).
const H = 1536;
const bucket = (ms) => Math.min(H - 1, Math.floor(Math.log2(1 + ms * 1000) * 64));
const bucketMs = (i) => (2 ** ((i + 1) / 64) - 1) / 1000;

if (isMainThread) await main();
else await worker(workerData);

async function main() {
  const arg = (name, def) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : def;
  };
  const cfg = {
    url: arg('url'),
    proto: arg('proto', 'yws'),
    rooms: Number(arg('rooms', 100)),
    clients: Number(arg('clients', 10)),
    rate: Number(arg('rate', 5)),
    seconds: Number(arg('seconds', 8)),
    boundMs: Number(arg('bound-ms', 1000)),
  };
  const procs = Math.min(cfg.rooms, Number(arg('procs', os.availableParallelism?.() ?? os.cpus().length)));
  const PID = Number(arg('pid', 0)); // the server's, for its memory and CPU
  // The server's resident memory (bytes) and CPU time (s), from /proc.
  const rss = () => (PID ? Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${PID}/status`, 'utf8'))[1]) * 1024 : 0);
  const cpu = () => {
    if (!PID) return 0;
    const f = fs.readFileSync(`/proc/${PID}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in ticks of 10 ms
  };
  const loadCpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const rssIdle = rss();

  const workers = [];
  const waitAll = (type) =>
    Promise.all(workers.map((w) => new Promise((resolve, reject) => {
      const on = (m) => {
        if (m.type === type) {
          w.off('message', on);
          resolve(m);
        }
      };
      w.on('message', on);
      w.once('error', reject);
    })));
  for (let w = 0; w < procs; w++) {
    const rooms = [];
    for (let r = w; r < cfg.rooms; r += procs) rooms.push(r);
    workers.push(new Worker(new URL(import.meta.url), { workerData: { ...cfg, myRooms: rooms } }));
  }
  const ready = await waitAll('ready');
  const synced = waitAll('synced');
  const t0 = performance.now();
  for (const w of workers) w.postMessage({ type: 'connect' });
  await synced;
  const syncMs = performance.now() - t0;
  const rssSynced = rss();

  const done = waitAll('done');
  for (const w of workers) w.postMessage({ type: 'go' });
  // Server and load CPU over the measured part (after the warm-up second)
  // and the drain.
  await new Promise((r) => setTimeout(r, 1000));
  const cpuStart = cpu();
  const loadStart = loadCpu();
  const res = await done;
  const serverCpu = cpu() - cpuStart;
  const loadCpuS = loadCpu() - loadStart;
  const rssLoaded = rss();
  await Promise.all(workers.map((w) => w.terminate()));

  const hist = new Float64Array(H);
  let sent = 0, expected = 0, received = 0, onTime = 0, window = 0, lastReceived = 0;
  for (const m of res) {
    sent += m.sent;
    expected += m.expected;
    received += m.received;
    onTime += m.onTime;
    window = Math.max(window, m.windowS);
    lastReceived = Math.max(lastReceived, m.lastReceivedS);
    for (let i = 0; i < H; i++) hist[i] += m.hist[i];
  }
  const pct = (p) => {
    const want = Math.ceil((p / 100) * received);
    let acc = 0;
    for (let i = 0; i < H; i++) if ((acc += hist[i]) >= want && want > 0) return +bucketMs(i).toFixed(2);
    return null;
  };
  console.log(JSON.stringify({
    proto: cfg.proto, rooms: cfg.rooms, clients: cfg.clients, rate: cfg.rate, seconds: cfg.seconds,
    procs, bound_ms: cfg.boundMs,
    sent, expected, received, missing: expected - received, on_time: onTime,
    offered_updates_per_s: Math.round(sent / window),
    // Relays within the bound, over the send window.
    relayed_per_s: Math.round(onTime / window),
    // Every relay, over the time to the last one (stretched by a backlog).
    all_relayed_per_s: Math.round(received / Math.max(window, lastReceived)),
    p50_ms: pct(50), p99_ms: pct(99), max_ms: pct(100),
    connect_sync_ms: Math.round(syncMs), generate_ms: Math.max(...ready.map((m) => m.genMs)),
    server_cpu_s: +serverCpu.toFixed(2),
    server_cpu_us_per_relay: received ? +((serverCpu * 1e6) / received).toFixed(3) : null,
    load_cpu_s: +loadCpuS.toFixed(2),
    load_avg_1m: +os.loadavg()[0].toFixed(2),
    rss_idle_mb: +(rssIdle / 1048576).toFixed(1),
    rss_synced_mb: +(rssSynced / 1048576).toFixed(1),
    rss_loaded_mb: +(rssLoaded / 1048576).toFixed(1),
    // Per document: its connections and its content, above the idle server.
    bytes_per_doc_synced: PID ? Math.round((rssSynced - rssIdle) / cfg.rooms) : null,
    bytes_per_doc: PID ? Math.round((rssLoaded - rssIdle) / cfg.rooms) : null,
  }));
  process.exit(0);
}

async function worker(cfg) {
  const { url, proto, clients: CLIENTS, rate: RATE, seconds: SECONDS, boundMs, myRooms } = cfg;
  const N = myRooms.length * CLIENTS; // local clients: room myRooms[k] has k*CLIENTS..
  const PER = Math.ceil(RATE * SECONDS) + 1;
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
  const roomName = (k) => `bench-${myRooms[k]}`;
  // A y-websocket message, prefixed for Hocuspocus with its document's name.
  const frame = (k, bytes) => (proto === 'hocuspocus' ? Buffer.concat([varString(roomName(k)), bytes]) : bytes);
  const syncMsg = (type, payload) => Buffer.concat([Buffer.from([0, type, ...varUint(payload.length)]), payload]);
  // The global client number, in the markers.
  const gid = (c) => myRooms[Math.floor(c / CLIENTS)] * CLIENTS + (c % CLIENTS);
  const local = new Map();
  for (let c = 0; c < N; c++) local.set(gid(c), c);

  // The updates, made before the clock starts.
  const t0gen = Date.now();
  const updates = [];
  const clientIds = [];
  const texts = [];
  for (let c = 0; c < N; c++) {
    const doc = new Y.Doc();
    const list = [];
    doc.on('update', (u) => list.push(frame(Math.floor(c / CLIENTS), syncMsg(2, Buffer.from(u)))));
    const text = doc.getText('t');
    const g = String(gid(c)).padStart(4, '0');
    for (let s = 0; s < PER; s++) text.insert(text.length, `@${g}${String(s).padStart(6, '0')}`);
    updates.push(list);
    clientIds.push(doc.clientID);
    texts.push(text.toString());
  }
  const genMs = Date.now() - t0gen;

  // A room's document as its clients have sent it so far: what a member
  // answers to a server's sync step 1 after the sync (roomd asks one for
  // its state to compact the room's log). It holds everything the member
  // has received (every update sent in its room so far) and maybe a little
  // more (one sent after), which Yjs takes twice without harm. Encoded by
  // hand (Yjs update v1: each client's inserts are one item, its text so
  // far, at the start of the root text "t"; no deletions), as
  // Y.mergeUpdates costs the load about 10 ms a snapshot.
  const snapshot = (k) => {
    const parts = [null];
    for (let c = k * CLIENTS; c < (k + 1) * CLIENTS; c++) {
      if (sent[c]) parts.push(Buffer.from([...varUint(1), ...varUint(clientIds[c]), 0, 4, 1]), varString('t'),
        varString(texts[c].slice(0, sent[c] * 11)));
    }
    parts[0] = Buffer.from(varUint((parts.length - 1) / 3));
    parts.push(Buffer.from([0]));
    return Buffer.concat(parts);
  };

  const sentAt = new Float64Array(N * PER);
  const sent = new Uint32Array(N);
  const hist = new Float64Array(H);
  let received = 0;
  let onTime = 0;
  let lastReceived = 0;
  const now = () => performance.now();

  // The markers in a message: "@" then 10 digits.
  function onMessage(self, buf) {
    let i = buf.indexOf(64);
    while (i >= 0 && i + 11 <= buf.length) {
      let ok = true;
      let g = 0;
      let s = 0;
      for (let k = 1; k <= 10 && ok; k++) {
        const d = buf[i + k] - 48;
        if (d < 0 || d > 9) ok = false;
        else if (k <= 4) g = g * 10 + d;
        else s = s * 10 + d;
      }
      const c = ok ? local.get(g) : undefined;
      if (c !== undefined && c !== self && s < sent[c]) {
        const t = sentAt[c * PER + s];
        if (t > 0) {
          received++;
          lastReceived = now();
          const ms = lastReceived - t;
          if (ms <= boundMs) onTime++;
          hist[bucket(ms)]++;
        }
        i = buf.indexOf(64, i + 11);
      } else {
        i = buf.indexOf(64, i + 1);
      }
    }
  }

  const nextMessage = (type) => new Promise((resolve) => {
    const on = (m) => {
      if (m.type === type) {
        parentPort.off('message', on);
        resolve();
      }
    };
    parentPort.on('message', on);
  });
  const connect = nextMessage('connect');
  parentPort.postMessage({ type: 'ready', genMs });
  await connect;

  const sockets = new Array(N);
  let synced = 0;
  await new Promise((resolve, reject) => {
    let next = 0;
    const open = (c) => {
      const k = Math.floor(c / CLIENTS);
      const ws = new WebSocket(proto === 'hocuspocus' ? url : `${url}/${roomName(k)}`, { perMessageDeflate: false });
      sockets[c] = ws;
      let isSynced = false;
      ws.on('open', () => {
        if (proto === 'hocuspocus') ws.send(frame(k, Buffer.from([2, 0, 0]))); // auth: an empty token
        ws.send(frame(k, Buffer.from([0, 0, 1, 0]))); // sync step 1, empty state vector
        if (next < N) open(next++);
      });
      ws.on('message', (data) => {
        const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
        if (!isSynced) {
          // The first sync step 2 (Hocuspocus: after the name).
          const at = proto === 'hocuspocus' ? varString(roomName(k)).length : 0;
          if (buf[at] === 0 && buf[at + 1] === 1) {
            isSynced = true;
            if (++synced === N) resolve();
          }
          // The server's step 1: answered with nothing.
          if (buf[at] === 0 && buf[at + 1] === 0) ws.send(frame(k, Buffer.from([0, 1, 2, 0, 0])));
        } else if (buf[0] === 0 && buf[1] === 0 && proto === 'yws') {
          ws.send(syncMsg(1, snapshot(k)));
        }
        onMessage(c, buf);
      });
      ws.on('error', reject);
    };
    // A few at a time, not a thousand SYNs at once.
    while (next < Math.min(25, N)) open(next++);
  });
  const go = nextMessage('go');
  parentPort.postMessage({ type: 'synced' });
  await go;

  // The load: every 10 ms, each client sends what its rate owes.
  const tick = 10;
  const start = now();
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const elapsed = now() - start;
      if (elapsed >= SECONDS * 1000) {
        clearInterval(timer);
        resolve();
        return;
      }
      const measuring = elapsed >= 1000; // a second of warm-up
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
  // The sockets stay open until the main thread has read the server's
  // memory, then it terminates the worker.
  parentPort.postMessage({
    type: 'done', sent: sentMeasured, expected, received, onTime, hist,
    windowS: (sendEnd - start - 1000) / 1000,
    lastReceivedS: lastReceived ? (lastReceived - start - 1000) / 1000 : 0,
  });
}
