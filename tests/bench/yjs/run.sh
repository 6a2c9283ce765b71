#!/bin/bash
# The yjs benchmark (docs/protocol-yjs.md): the Node client load (load.mjs,
# spread over worker threads), 100 rooms x 10 clients each sending small
# Yjs updates, against roomd's
# /yjs/, the Node y-websocket server (@y/websocket-server) and Hocuspocus
# (@hocuspocus/server). Figures: updates relayed per second, relay latency
# (p50, p99), server CPU per relay, server memory per document, at a few
# rates per client; a server's saturation is the highest rate whose relays
# arrive on time (within BENCH_YJS_BOUND_MS). Writes docs/bench/yjs-results.md.
#
# Usage: tests/bench/yjs/run.sh (or tests/bench/run.sh with BENCH_SCENARIOS=yjs)
#   BENCH_YJS_RATES="2 20 50 100"  updates per second per client, one run each
#   BENCH_YJS_SECONDS=8      seconds of load per run (the first is warm-up)
#   BENCH_YJS_PROCS=2        load worker threads (default: the cores)
#   BENCH_YJS_BOUND_MS=1000  a relay later than this is not counted
#   BENCH_SERVERS="roomd y-websocket hocuspocus"
#   BENCH_ROOMD=PATH         another roomd binary
# All traffic stays on 127.0.0.1; every server is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/../../.."
here=tests/bench/yjs
rates=${BENCH_YJS_RATES:-2 20 50 100}
seconds=${BENCH_YJS_SECONDS:-8}
procs=${BENCH_YJS_PROCS:-$(nproc)}
bound=${BENCH_YJS_BOUND_MS:-1000}
servers=${BENCH_SERVERS:-roomd y-websocket hocuspocus}
rooms=100
clients=10

# shellcheck source=../../deps.sh
. tests/deps.sh
if [ ! -f "$here/node_modules/.package-lock.json" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund >&2)
fi
roomd=${BENCH_ROOMD:-}
if [ -z "$roomd" ]; then
    if [ -f build-bench/build.ninja ]; then
        meson configure build-bench -Dbuildtype=release -Dtests=enabled >/dev/null
    else
        rm -rf build-bench
        meson setup build-bench --buildtype=release -Dtests=enabled >/dev/null
    fi
    ninja -C build-bench examples/roomd/roomd >/dev/null
    roomd=build-bench/examples/roomd/roomd
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

work=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# start NAME PORT: sets pid and url, waits until the server listens.
start() {
    case $1 in
    roomd)
        # No rate limits: the Node servers have none either.
        "$roomd" --host 127.0.0.1 --port "$2" --quiet --no-rate-limit >"$work/server.log" 2>&1 &
        pid=$!; url=ws://127.0.0.1:$2/yjs; proto=yws ;;
    y-websocket)
        HOST=127.0.0.1 PORT=$2 node "$here/node_modules/@y/websocket-server/src/server.js" >"$work/server.log" 2>&1 &
        pid=$!; url=ws://127.0.0.1:$2; proto=yws ;;
    hocuspocus)
        PORT=$2 node "$here/hocuspocus.mjs" >"$work/server.log" 2>&1 &
        pid=$!; url=ws://127.0.0.1:$2; proto=hocuspocus ;;
    esac
    for _ in $(seq 100); do
        if node -e 'const s=require("net").connect(+process.argv[1],"127.0.0.1",()=>process.exit(0));s.on("error",()=>process.exit(1))' "$2"; then
            return 0
        fi
        sleep 0.1
    done
    echo "$1 did not start: $(cat "$work/server.log")" >&2
    exit 1
}

results=$work/results.jsonl
for rate in $rates; do
    for s in $servers; do
        port=$(free_port)
        start "$s" "$port"
        sleep 0.5
        echo "--- $s, $rate updates/s per client" >&2
        line=$(timeout 180 node "$here/load.mjs" --url "$url" --proto "$proto" --pid "$pid" \
            --rooms "$rooms" --clients "$clients" --rate "$rate" --seconds "$seconds" \
            --procs "$procs" --bound-ms "$bound")
        echo "$line" >&2
        echo "{\"server\":\"$s\",${line#\{}" >>"$results"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        pid=""
    done
done

mkdir -p docs/bench
node - "$results" "$(nproc)" "$(date -u +%Y-%m-%d)" >docs/bench/yjs-results.md <<'NODE'
const fs = require('fs');
const [file, cpus, day] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const out = [];
out.push('# yjs benchmark results', '');
out.push(`tests/bench/yjs/run.sh, ${day}, ${cpus} cores shared by the server and the load (${rows[0].procs} Node worker threads).`);
out.push(`${rows[0].rooms} rooms x ${rows[0].clients} clients, each sending small Yjs updates (11 characters typed)`);
out.push(`at the given rate for ${rows[0].seconds} s (the first is warm-up); every update goes to the room's 9 others.`);
out.push(`relayed/s counts the relays that arrived within ${rows[0].bound_ms} ms of their send, over the send window;`);
out.push('all/s every relay, over the time to the last one; missing: still owed 10 s after the senders stopped.', '');
out.push('| server | updates/s per client | offered updates/s | relayed/s | all/s | missing | p50 ms | p99 ms | server CPU s | server CPU us per relay | load CPU s | load avg | RSS idle MB | RSS loaded MB | bytes per document |');
out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  out.push(`| ${r.server} | ${r.rate} | ${r.offered_updates_per_s} | ${r.relayed_per_s} | ${r.all_relayed_per_s} | ${r.missing} | ${r.p50_ms} | ${r.p99_ms} | ${r.server_cpu_s} | ${r.server_cpu_us_per_relay} | ${r.load_cpu_s} | ${r.load_avg_1m} | ${r.rss_idle_mb} | ${r.rss_loaded_mb} | ${r.bytes_per_doc} |`);
}
// Saturation: each server's best on-time relay rate among the runs whose
// p99 stays within the bound (any run when none does).
out.push('', '| server | saturation relayed/s (on time) | at updates/s per client | p99 ms there | server CPU us per relay there |', '| --- | --- | --- | --- | --- |');
const best = {};
const within = (r) => r.p99_ms !== null && r.p99_ms <= r.bound_ms;
const better = (a, b) => !b || (within(a) && !within(b)) || (within(a) === within(b) && a.relayed_per_s > b.relayed_per_s);
for (const r of rows) if (better(r, best[r.server])) best[r.server] = r;
for (const [s, r] of Object.entries(best)) out.push(`| ${s} | ${r.relayed_per_s} | ${r.rate} | ${r.p99_ms} | ${r.server_cpu_us_per_relay} |`);
console.log(out.join('\n'));
NODE
cat docs/bench/yjs-results.md
