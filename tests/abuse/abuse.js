'use strict';
// The frame of every abuse case: one roomd per file, a healthy Socket.IO
// client that keeps timing `echo` round trips while the case runs, and
// roomd's VmRSS before and after. Each case's row is printed as a TAP
// comment ("# abuse | ...") and, with ABUSE_RESULTS=FILE, appended to FILE
// as a JSON line (docs/robustness.md is made from them).
const fs = require('node:fs');
const { before, after, it } = require('node:test');
const assert = require('node:assert/strict');
const { startRoomd, connect, withTimeout, sleep } = require('../interop/helpers');

// Generous: a loaded CI machine under ASan must still pass.
const RTT_BOUND_MS = 1500;
const PROBE_EVERY_MS = 25;

function vmRssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

function abuseSuite(args) {
  const suite = { roomd: null, healthy: null };
  before(async () => {
    suite.roomd = await startRoomd(['--quiet', ...args]);
    suite.healthy = await connect(suite.roomd.url + '/admin');
  });
  after(async () => {
    suite.healthy.close();
    const exit = await suite.roomd.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, suite.roomd.stderr());
  });

  // Runs `fn` while the healthy client's round trips are timed; asserts
  // they stayed under the bound and that roomd still runs.
  suite.abuse = (name, fn, { timeout = 60000 } = {}) =>
    it(name, { timeout }, async () => {
      const pid = suite.roomd.proc.pid;
      const rssBefore = vmRssKb(pid);
      let running = true;
      let maxRtt = 0;
      let probes = 0;
      const prober = (async () => {
        while (running) {
          const t0 = process.hrtime.bigint();
          const got = await suite.healthy.timeout(RTT_BOUND_MS).emitWithAck('echo', probes);
          assert.equal(got, probes);
          maxRtt = Math.max(maxRtt, Number(process.hrtime.bigint() - t0) / 1e6);
          probes++;
          await sleep(PROBE_EVERY_MS);
        }
      })();
      let outcome;
      try {
        outcome = await fn(suite);
      } finally {
        running = false;
        await prober;
      }
      assert.ok(suite.roomd.running(), suite.roomd.stderr());
      assert.ok(probes > 0);
      const row = {
        name,
        outcome,
        probes,
        maxRttMs: Math.round(maxRtt * 10) / 10,
        rssBeforeKb: rssBefore,
        rssAfterKb: vmRssKb(pid),
      };
      console.log(`abuse | ${name} | ${outcome} | ${row.maxRttMs} ms | ${row.rssBeforeKb} -> ${row.rssAfterKb} kB`);
      if (process.env.ABUSE_RESULTS) fs.appendFileSync(process.env.ABUSE_RESULTS, JSON.stringify(row) + '\n');
      assert.ok(maxRtt < RTT_BOUND_MS, `healthy round trip ${maxRtt} ms`);
    });
  return suite;
}

// Resolves with `promise`'s value, or rejects after `ms`.
const within = (promise, ms, what) => withTimeout(promise, ms, what);

module.exports = { abuseSuite, within, sleep, vmRssKb };
