#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Benchmarks roomd against the reference Socket.IO 4.8 server (tests/bench/node)
# with one load generator (tests/bench/loadgen.c) and the same scenarios, then
# writes docs/bench/results.md (the table) and docs/bench/fanout.png (chart).
#
# Usage: tests/bench/run.sh
#   BENCH_REPEAT=N      runs per scenario and server; the median run is kept (3)
#   BENCH_SERVERS=LIST  servers to measure, of "roomd socketio" (both)
#   BENCH_SCENARIOS=LIST  scenarios to run (all but presence; e.g. "fanout-1k-polling idle-polling",
#                       or "presence", which runs only when named; "cluster" runs alone: fan-out over
#                       two nodes joined by Redis, docs/bench/cluster.md; "yjs" alone runs
#                       tests/bench/yjs/run.sh)
#   BENCH_ROOMD=PATH    another roomd binary (an older tree's, for before/after figures)
# Installs missing packages (needs root or sudo for that only) and builds
# into build-bench/ (buildtype=release). All traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=tests/bench
# shellcheck source=common.sh
. "$bench/common.sh"
# The yjs scenario has clients and servers of its own (tests/bench/yjs/run.sh).
if [ "${BENCH_SCENARIOS:-}" = yjs ]; then
    exec "$bench/yjs/run.sh"
fi

repeat=${BENCH_REPEAT:-3}
servers_wanted=${BENCH_SERVERS:-roomd socketio}
run_started=$(date +%s)

# --- what the run needs ------------------------------------------------------
# shellcheck source=../deps.sh
. tests/deps.sh
if ! command -v gnuplot >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
fi
if [ ! -d "$bench/node/node_modules" ]; then
    (cd "$bench/node" && npm ci --no-audit --no-fund)
fi

if [ -f build-bench/build.ninja ]; then
    meson configure build-bench -Dbuildtype=release -Dtests=enabled
else
    rm -rf build-bench # a setup that failed half-way
    meson setup build-bench --buildtype=release -Dtests=enabled
fi
ninja -C build-bench tests/bench/loadgen
loadgen=build-bench/tests/bench/loadgen
roomd=${BENCH_ROOMD:-build-bench/examples/roomd/roomd}
roomd_note=""
targets=$(ninja -C build-bench -t targets all 2>/dev/null || true)
if [ -n "${BENCH_ROOMD:-}" ]; then
    [ -x "$roomd" ] || roomd_note="BENCH_ROOMD is not an executable"
elif grep -q '^examples/roomd/roomd:' <<<"$targets"; then
    ninja -C build-bench examples/roomd/roomd || roomd_note="roomd failed to build"
else
    roomd_note="no roomd target in the build yet"
fi
if [ -z "$roomd_note" ] && [ ! -x "$roomd" ]; then
    roomd_note="$roomd is missing"
fi

servers=()
for s in $servers_wanted; do
    if [ "$s" = roomd ] && [ -n "$roomd_note" ]; then
        echo "*** skipping roomd: $roomd_note" >&2
        continue
    fi
    servers+=("$s")
done

# 10k connections in the load generator and as many in the server, each its
# own process with its own limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt 10100 ]; then
    echo "open-file limit $(ulimit -n) is below the 10100 the scenarios need" >&2
    exit 1
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- scenarios ---------------------------------------------------------------
# "presence" runs only when named: its bytes grow as n^2 (1.2 GB through loopback for 10 000
# users, docs/benchmarks.md, Presence), and on a shared machine a run can take tens of seconds.
all_scenarios="fanout-1k fanout-5k fanout-100 fanout-1k-rt fanout-5k-rt fanout-100-rt many-rooms idle storm slow
    fanout-1k-polling idle-polling"
# shellcheck disable=SC2206 # a word list on purpose
scenarios=(${BENCH_SCENARIOS:-$all_scenarios})
declare -A title args primary
title[fanout-1k]="fan-out: 1 room, 1000 clients, 1 sender x 300 msgs of 100 B, 32 in flight"
title[fanout-5k]="fan-out: 1 room, 5000 clients, 1 sender x 100 msgs of 100 B, 32 in flight"
title[fanout-100]="fan-out: 1 room, 100 clients, 1 sender x 3000 msgs of 100 B, 32 in flight"
title[fanout-1k-rt]="fan-out, round-trip bound: the same, 1000 clients, 4 in flight"
title[fanout-5k-rt]="fan-out, round-trip bound: the same, 5000 clients, 4 in flight"
title[fanout-100-rt]="fan-out, round-trip bound: the same, 100 clients, 4 in flight"
title[many-rooms]="many rooms: 10000 clients in 1000 rooms of 10, all send 3 msgs of 100 B"
title[idle]="idle: 10000 connections, 1000 rooms of 10"
title[storm]="connection storm: 10000 connects + joins"
title[slow]="slow consumer: 100 clients, 1 stops reading, 10000 msgs of 4 KiB"
title[fanout-1k-polling]="polling fan-out: 1 room, 1000 long-polling clients, 1 sender x 300 msgs of 100 B, 32 in flight"
title[idle-polling]="idle polling: 5000 long-polling sessions, 500 rooms of 10"
title[presence]="presence: 10000 users join 1 room at once (rooms protocol, roomd --presence), then 9999 leave"
# Fan-out: the sender keeps up to 32 of its own messages in flight, enough
# that each server is measured at its capacity rather than at the round
# trip of one message. The -rt rows allow only 4: there a server that
# batches writes has little to batch, and the figure is bound by round trips.
# many-rooms already has 10000 senders.
args[fanout-1k]="--clients 1000 --rooms 1 --messages 300 --size 100 --inflight 32"
args[fanout-5k]="--clients 5000 --rooms 1 --messages 100 --size 100 --inflight 32"
args[fanout-100]="--clients 100 --rooms 1 --messages 3000 --size 100 --inflight 32"
args[fanout-1k-rt]="--clients 1000 --rooms 1 --messages 300 --size 100 --inflight 4"
args[fanout-5k-rt]="--clients 5000 --rooms 1 --messages 100 --size 100 --inflight 4"
args[fanout-100-rt]="--clients 100 --rooms 1 --messages 3000 --size 100 --inflight 4"
args[many-rooms]="--clients 10000 --rooms 1000 --messages 3 --size 100 --inflight 1"
args[idle]="--clients 10000 --rooms 1000 --idle 3"
args[storm]="--clients 10000 --rooms 1000 --connect-only"
# 40 MB for the slow client: well past what the kernel's socket buffers hold.
args[slow]="--clients 100 --rooms 1 --messages 10000 --size 4096 --inflight 16 --slow 1"
# HTTP long-polling (Engine.IO v4), as the stock client with transports:
# ['polling']: a pending GET and a keep-alive POST connection per client.
# 5000 idle sessions are 10000 connections, as many as the WebSocket idle row.
args[fanout-1k-polling]="--transport polling --clients 1000 --rooms 1 --messages 300 --size 100 --inflight 32"
args[idle-polling]="--transport polling --clients 5000 --rooms 500 --idle 3"
# Presence (roomd only: the Socket.IO baseline has no presence): every client
# is user u<i> and tracks the member list from the snapshot and the diffs;
# --idle holds the full room for the RSS sample, then all but one leave.
args[presence]="--presence --clients 10000 --idle 2"
primary[fanout-1k]=deliveries_per_s
primary[fanout-5k]=deliveries_per_s
primary[fanout-100]=deliveries_per_s
primary[fanout-1k-rt]=deliveries_per_s
primary[fanout-5k-rt]=deliveries_per_s
primary[fanout-100-rt]=deliveries_per_s
primary[many-rooms]=deliveries_per_s
primary[idle]=bytes_per_conn
primary[storm]=connect_rate
primary[slow]=deliveries_per_s
primary[fanout-1k-polling]=deliveries_per_s
primary[idle-polling]=bytes_per_conn
primary[presence]=full_s

start_server() { # name scenario -> sets server_pid, port
    port=$(free_port)
    # Socket.IO serves polling only in the polling scenarios (roomd serves both always).
    local transports=websocket
    [ "${2%-polling}" = "$2" ] || transports=websocket,polling
    case $1 in
    roomd)
        if [ "$2" = presence ]; then
            "$roomd" --port "$port" --protocol rooms --presence --no-rate-limit >"$work/server.log" 2>&1 &
        else
            "$roomd" --port "$port" --protocol bench --no-rate-limit >"$work/server.log" 2>&1 &
        fi
        ;;
    socketio) node "$bench/node/server.js" --port "$port" --transports "$transports" >"$work/server.log" 2>&1 & ;;
    esac
    server_pid=$!
    if ! wait_listening "$port" "$server_pid"; then
        echo "$1 did not start listening on port $port:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# One loadgen run against a fresh server; its RESULT line plus a SERVER line
# of server-side figures end up in $1.
run_once() { # out server scenario
    local out=$1 name=$2 scen=$3 lg before after peak r limit=120
    # Every joiner gets the whole member list: the presence run grows as n^2.
    [ "$scen" != presence ] || limit=300
    start_server "$name" "$scen"
    # shellcheck disable=SC2086 # args are word lists on purpose
    set -- "$loadgen" --port "$port" ${args[$scen]} --timeout "$limit"
    before=$(status_kib "$server_pid" VmRSS)
    case $scen in
    idle | idle-polling | presence)
        "$@" >"$out" 2>&1 &
        lg=$!
        for _ in $(seq 1 $((limit * 10))); do
            grep -q '^READY' "$out" && break
            kill -0 "$lg" 2>/dev/null || break
            sleep 0.1
        done
        # Let the server finish allocating for the last joins before sampling.
        sleep 1
        after=$(status_kib "$server_pid" VmRSS)
        grep -q '^READY' "$out" || after=""
        wait "$lg" || true
        echo "SERVER rss_before_kib=$before rss_after_kib=${after:--}" >>"$out"
        ;;
    slow)
        "$@" >"$out" 2>&1 &
        lg=$!
        peak=$before
        for _ in $(seq 1 400); do
            kill -0 "$lg" 2>/dev/null || break
            r=$(status_kib "$server_pid" VmRSS)
            [ "${r:-0}" -gt "$peak" ] && peak=$r
            sleep 0.5
        done
        wait "$lg" || true
        # The high-water mark also catches a peak between two samples.
        echo "SERVER rss_before_kib=$before rss_peak_kib=$peak rss_hwm_kib=$(status_kib "$server_pid" VmHWM)" >>"$out"
        ;;
    *)
        "$@" >"$out" 2>&1 || true
        ;;
    esac
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "SERVER alive=1" >>"$out"
    else
        echo "SERVER alive=0" >>"$out"
    fi
    stop_server
}

declare -A R
# Key=value pairs of RESULT and SERVER lines of file $3 into R[$1.$2.key].
load_result() {
    local kv
    # shellcheck disable=SC2013 # the lines are lists of words
    for kv in $(grep -E '^(RESULT|SERVER) ' "$3" | cut -d' ' -f2-); do
        R[$1.$2.${kv%%=*}]=${kv#*=}
    done
    local b=${R[$1.$2.rss_before_kib]:-} a=${R[$1.$2.rss_after_kib]:--} j=${R[$1.$2.joined]:-0}
    if { [ "${2%%.*}" = idle ] || [ "${2%%.*}" = idle-polling ]; } && [ "$a" != - ] && [ "$j" -gt 0 ]; then
        R[$1.$2.bytes_per_conn]=$(((a - b) * 1024 / j))
    fi
    if [ "${2%%.*}" = presence ] && [ "$a" != - ] && [ "$j" -gt 0 ]; then
        R[$1.$2.bytes_per_member]=$(((a - b) * 1024 / j))
    fi
}

get() { echo "${R[$1.$2.$3]:-}"; }

# --- cluster: 1000 clients over 2 nodes joined by Redis -------------------------
# The fanout-1k load (one room, one sender on the first node, 32 in flight)
# against one roomd, two roomd --redis and two Socket.IO 4.8 servers joined
# by @socket.io/redis-adapter; the load generator spreads its clients over
# the nodes (--port P1,P2), so half the deliveries cross Redis. Runs alone
# (BENCH_SCENARIOS=cluster) and writes docs/bench/cluster.md and cluster.png.
cluster_pids=()
cluster_stop() {
    local p
    for p in "${cluster_pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    cluster_pids=()
}
cluster_once() { # out kind(roomd1|roomd2|socketio2)
    local out=$1 kind=$2 rport p1 p2 p pid
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
    pid=$!
    cluster_pids+=("$pid")
    wait_listening "$rport" "$pid" || { echo "redis-server did not start" >&2; exit 1; }
    p1=$(free_port)
    p2=$(free_port)
    while [ "$p2" = "$p1" ]; do p2=$(free_port); done
    case $kind in
    roomd1)
        "$roomd" --port "$p1" --protocol bench --no-rate-limit >"$work/node1.log" 2>&1 &
        pid=$!
        cluster_pids+=("$pid")
        wait_listening "$p1" "$pid" || exit 1
        p2=""
        ;;
    roomd2)
        for p in "$p1" "$p2"; do
            "$roomd" --port "$p" --protocol bench --no-rate-limit --redis "redis://127.0.0.1:$rport" \
                --node-id "n$p" >"$work/node$p.log" 2>&1 &
            pid=$!
            cluster_pids+=("$pid")
            wait_listening "$p" "$pid" || exit 1
        done
        ;;
    socketio2)
        for p in "$p1" "$p2"; do
            node "$bench/node/server.js" --port "$p" --redis "redis://127.0.0.1:$rport" >"$work/node$p.log" 2>&1 &
            pid=$!
            cluster_pids+=("$pid")
            wait_listening "$p" "$pid" || exit 1
        done
        ;;
    esac
    # Every node has heard the others.
    sleep 1.5
    # shellcheck disable=SC2086 # args are word lists on purpose
    "$loadgen" --port "$p1${p2:+,$p2}" ${args[fanout-1k]} --timeout 120 >"$out" 2>&1 || true
    cluster_stop
}
run_cluster() {
    local kind i v runs median a b label
    command -v redis-server >/dev/null || { echo "cluster: redis-server is missing (tests/deps.sh)" >&2; exit 1; }
    [ -z "$roomd_note" ] || { echo "cluster: $roomd_note" >&2; exit 1; }
    for kind in roomd1 roomd2 socketio2; do
        runs="$work/cluster.$kind.runs"
        : >"$runs"
        for i in $(seq 1 "$repeat"); do
            cluster_once "$work/cluster.$kind.$i" "$kind"
            load_result "$kind" "cluster.$i" "$work/cluster.$kind.$i"
            v=$(get "$kind" "cluster.$i" deliveries_per_s)
            printf '[%s] cluster run %d/%d: deliveries_per_s=%s  missing %s  loadgen cpu %s%%\n' "$kind" "$i" \
                "$repeat" "${v:--}" "$(get "$kind" "cluster.$i" missing)" "$(get "$kind" "cluster.$i" cpu_pct)"
            echo "${v:-0} $work/cluster.$kind.$i" >>"$runs"
        done
        median=$(sort -n "$runs" | awk '{ f[NR] = $2 } END { print f[int((NR + 1) / 2)] }')
        load_result "$kind" cluster "$median"
    done
    a=$(get roomd1 cluster deliveries_per_s)
    b=$(get roomd2 cluster deliveries_per_s)
    mkdir -p docs/bench
    printf '"roomd, 1 node" %s\n"roomd, 2 nodes + Redis" %s\n"Socket.IO 4.8, 2 nodes + Redis" %s\n' \
        "${a:-0}" "${b:-0}" "$(get socketio2 cluster deliveries_per_s)" >"$work/cluster.dat"
    gnuplot <<EOF
set terminal pngcairo size 900,480 font "sans,11"
set output "docs/bench/cluster.png"
set title "Fan-out, 1000 clients in one room, 127.0.0.1, $(nproc) cores (higher is better)"
set style fill solid 0.85 border -1
set boxwidth 0.6
set yrange [0:*]
set grid ytics
set ylabel "thousand deliveries/s"
plot "$work/cluster.dat" using 0:(\$2/1000):xtic(1) with boxes notitle lc rgb '#1f77b4'
EOF
    {
        echo "# Benchmark: a two-node cluster"
        echo
        echo "Generated by \`BENCH_SCENARIOS=cluster${BENCH_REPEAT:+ BENCH_REPEAT=$repeat} tests/bench/run.sh\` on"
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'), tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores."
        echo "The fanout-1k load (\`loadgen ${args[fanout-1k]}\`), its 1000 clients spread"
        echo "over the nodes (\`--port P1,P2\`: the sender and half the room on the first node,"
        echo "the other half on the second, reached through Redis). Median of $repeat runs; redis-server"
        echo "$(redis-server --version | awk '{ sub("v=", "", $3); print $3 }') without persistence on the same machine."
        echo
        echo "| setup | deliveries/s | p99 latency, ms | missing | vs roomd, 1 node | roomd 2 nodes / this |"
        echo "|---|--:|--:|--:|--:|--:|"
        for kind in roomd1 roomd2 socketio2; do
            case $kind in
            roomd1) label="roomd, 1 node" ;;
            roomd2) label="roomd, 2 nodes + Redis" ;;
            socketio2) label="Socket.IO 4.8, 2 nodes + @socket.io/redis-adapter" ;;
            esac
            echo "| $label | $(fig "$kind" cluster deliveries_per_s) | $(fig "$kind" cluster lat_p99_ms) |" \
                "$(get "$kind" cluster missing) | $(ratio "$(get "$kind" cluster deliveries_per_s)" "$a") |" \
                "$(ratio "$b" "$(get "$kind" cluster deliveries_per_s)") |"
        done
        echo
        echo "![cluster fan-out](cluster.png)"
    } >docs/bench/cluster.md
    cat docs/bench/cluster.md
}

# The cluster scenario runs alone, after the report helpers below exist.
cluster_only=""
if [ "${scenarios[*]}" = cluster ]; then
    cluster_only=1
    scenarios=()
fi
for name in "${servers[@]}"; do
    for scen in "${scenarios[@]}"; do
        [ "$scen" != presence ] || [ "$name" = roomd ] || continue
        # Keeps the median run by the scenario's primary figure.
        : >"$work/runs"
        for i in $(seq 1 "$repeat"); do
            out="$work/$name.$scen.$i"
            run_once "$out" "$name" "$scen"
            load_result "$name" "$scen.$i" "$out"
            v=$(get "$name" "$scen.$i" "${primary[$scen]}")
            printf '[%s] %-10s run %d/%d: %s=%s  loadgen cpu %s%%  missing %s  errors %s/%s/%s%s\n' \
                "$name" "$scen" "$i" "$repeat" "${primary[$scen]}" "${v:--}" \
                "$(get "$name" "$scen.$i" cpu_pct)" "$(get "$name" "$scen.$i" missing)" \
                "$(get "$name" "$scen.$i" connect_errors)" "$(get "$name" "$scen.$i" join_errors)" \
                "$(get "$name" "$scen.$i" protocol_errors)" \
                "$([ "$(get "$name" "$scen.$i" alive)" = 1 ] || echo '  SERVER DIED')"
            echo "${v:-0} $out" >>"$work/runs"
        done
        median=$(sort -n "$work/runs" | awk '{ f[NR] = $2 } END { print f[int((NR + 1) / 2)] }')
        load_result "$name" "$scen" "$median"
    done
done

# --- report ------------------------------------------------------------------
ratio() { # a b
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

# A figure from a run that lost deliveries, connections or its server is
# flagged (!): it is not comparable as is. (L) flags a run whose load
# generator used most of its core: the server may have had more to give.
flag() { # server scenario
    local bad=""
    [ "$(get "$1" "$2" missing)" = 0 ] || bad=1
    [ "$(get "$1" "$2" connect_errors)" = 0 ] || bad=1
    [ "$(get "$1" "$2" join_errors)" = 0 ] || bad=1
    [ "$(get "$1" "$2" protocol_errors)" = 0 ] || bad=1
    [ "$(get "$1" "$2" timed_out)" = 0 ] || bad=1
    [ "$(get "$1" "$2" alive)" = 1 ] || bad=1
    [ "$2" != presence ] || [ "$(get "$1" "$2" left_seen)" = 1 ] || bad=1
    [ "$2" != presence ] || [ "$(get "$1" "$2" bad_ids)" = 0 ] || bad=1
    [ "$2" != presence ] || [ "$(get "$1" "$2" dropped)" = 0 ] || bad=1
    [ -z "$bad" ] || printf ' (!)'
    awk -v c="$(get "$1" "$2" cpu_pct)" 'BEGIN { if (c + 0 >= 90) printf " (L)" }'
}

# A figure as the table shows it; empty when the run did not produce it.
fig() { # server scenario metric
    local v
    case $3 in
    lat_p99_ms)
        v=$(get "$1" "$2" lat_p99_us)
        [ -z "$v" ] || awk -v v="$v" 'BEGIN { printf "%.1f\n", v / 1000 }'
        ;;
    rss_peak_mib | rss_hwm_mib)
        v=$(get "$1" "$2" "${3%_mib}_kib")
        [ -z "$v" ] || awk -v v="$v" 'BEGIN { printf "%.1f\n", v / 1024 }'
        ;;
    *) get "$1" "$2" "$3" ;;
    esac
}

if [ -n "$cluster_only" ]; then
    run_cluster
    exit 0
fi

slow_outcome() { # server
    local n=$1
    [ -n "$(get "$n" slow slow_expected)" ] || { echo "-"; return; }
    if [ "$(get "$n" slow slow_closed)" = 0 ]; then
        echo "kept; got $(get "$n" slow slow_received)/$(get "$n" slow slow_expected) late"
    else
        echo "dropped ($(get "$n" slow slow_how) $(get "$n" slow slow_code) $(get "$n" slow slow_reason)); got $(get "$n" slow slow_received)/$(get "$n" slow slow_expected)"
    fi
}

rows=(
    "fanout-1k|deliveries/s|deliveries_per_s|higher"
    "fanout-1k|p99 latency, ms|lat_p99_ms|lower"
    "fanout-5k|deliveries/s|deliveries_per_s|higher"
    "fanout-5k|p99 latency, ms|lat_p99_ms|lower"
    "fanout-100|deliveries/s|deliveries_per_s|higher"
    "fanout-100|p99 latency, ms|lat_p99_ms|lower"
    "fanout-1k-rt|deliveries/s|deliveries_per_s|higher"
    "fanout-1k-rt|p99 latency, ms|lat_p99_ms|lower"
    "fanout-5k-rt|deliveries/s|deliveries_per_s|higher"
    "fanout-5k-rt|p99 latency, ms|lat_p99_ms|lower"
    "fanout-100-rt|deliveries/s|deliveries_per_s|higher"
    "fanout-100-rt|p99 latency, ms|lat_p99_ms|lower"
    "many-rooms|deliveries/s|deliveries_per_s|higher"
    "many-rooms|p99 latency, ms|lat_p99_ms|lower"
    "idle|server RSS per connection, bytes|bytes_per_conn|lower"
    "storm|connects+joins/s|connect_rate|higher"
    "slow|deliveries/s to the others|deliveries_per_s|higher"
    "slow|server peak RSS (VmHWM), MiB|rss_hwm_mib|lower"
    "slow|server RSS, highest 0.5 s sample, MiB|rss_peak_mib|lower"
    "fanout-1k-polling|deliveries/s|deliveries_per_s|higher"
    "fanout-1k-polling|p99 latency, ms|lat_p99_ms|lower"
    "idle-polling|server RSS per polling session, bytes|bytes_per_conn|lower"
    "presence|time until every client has the full member list, s|full_s|lower"
    "presence|presence frames per client (snapshot + diffs)|pframes_per_client|lower"
    "presence|presence frames at the busiest client|pframes_max|lower"
    "presence|presence frames per client per second|pframes_per_client_per_s|lower"
    "presence|presence bytes received, all clients, MB|presence_mb|lower"
    "presence|other events received (answers, member-joined/left), all clients|other_events|lower"
    "presence|9999 leaves seen by the last member, s|left_s|lower"
    "presence|server RSS per member (connection included), bytes|bytes_per_member|lower"
)

mkdir -p docs/bench
table="$work/table.md"
{
    echo "| scenario | figure | better | roomd | Socket.IO | roomd/Socket.IO |"
    echo "|---|---|---|--:|--:|--:|"
    for row in "${rows[@]}"; do
        IFS='|' read -r scen label key better <<<"$row"
        a=$(fig roomd "$scen" "$key")
        b=$(fig socketio "$scen" "$key")
        fa=""; fb=""
        [ -z "$a" ] || fa=$(flag roomd "$scen")
        [ -z "$b" ] || fb=$(flag socketio "$scen")
        echo "| ${title[$scen]} | $label | $better | ${a:--}$fa | ${b:--}$fb | $(ratio "$a" "$b") |"
    done
    echo "| ${title[slow]} | the slow client | | $(slow_outcome roomd) | $(slow_outcome socketio) | |"
} >"$table"

details="$work/details.md"
d() { get "$name" "$scen" "$1"; }
{
    echo "| server | scenario | deliveries | expected | missing | joined | errors connect/join/protocol | dropped | elapsed, s | loadgen CPU, % of a core |"
    echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    for name in "${servers[@]}"; do
        for scen in "${scenarios[@]}"; do
            case $scen in
            idle | idle-polling | storm) el=$(d connect_s) ;;
            presence) el=$(d full_s) ;;
            *) el=$(d elapsed_s) ;;
            esac
            echo "| $name | $scen | $(d deliveries) | $(d expected) | $(d missing) | $(d joined) |" \
                "$(d connect_errors)/$(d join_errors)/$(d protocol_errors) | $(d dropped) | $el | $(d cpu_pct) |"
        done
    done
} >"$details"

# Chart: deliveries/s of every scenario that sends, the ratio under each.
chart_dat="$work/chart.dat"
plot_cols=()
for scen in fanout-1k fanout-5k fanout-100 fanout-1k-rt fanout-5k-rt fanout-100-rt many-rooms slow fanout-1k-polling; do
    a=$(fig roomd "$scen" deliveries_per_s)
    b=$(fig socketio "$scen" deliveries_per_s)
    label=$scen
    [ -z "$a" ] || [ -z "$b" ] || label="$scen\\nroomd x$(ratio "$a" "$b")"
    printf '"%s" %s %s\n' "$label" "${a:-?}" "${b:-?}" >>"$chart_dat"
done
for name in "${servers[@]}"; do
    case $name in
    roomd) plot_cols+=("'$chart_dat' using (\$2/1000):xtic(1) title 'roomd' lc rgb '#1f77b4'") ;;
    socketio) plot_cols+=("'$chart_dat' using (\$3/1000):xtic(1) title 'Socket.IO 4.8 (Node $(node --version))' lc rgb '#ff7f0e'") ;;
    esac
done
plot=$(IFS=','; echo "${plot_cols[*]}")
# A run of scenarios that send nothing (presence alone) has no chart: gnuplot
# would fail on the empty data and end the run before the report.
if ! awk '$2 != "?" || $3 != "?" { found = 1 } END { exit !found }' "$chart_dat"; then
    echo "no fan-out figures: docs/bench/fanout.png left as it was" >&2
else
gnuplot <<EOF
set terminal pngcairo size 1200,560 font "sans,11"
set output "docs/bench/fanout.png"
set title "Deliveries per second, 127.0.0.1, $(nproc) cores (higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "?"
set yrange [0:*]
set grid ytics
set bmargin 4
set key top right
set ylabel "thousand deliveries/s"
plot $plot
EOF
fi

sio_version=$(node -p "require('./$bench/node/node_modules/socket.io/package.json').version")
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "no commit")
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
elapsed=$(($(date +%s) - run_started))
{
    echo "# Benchmark: roomd vs Socket.IO"
    echo
    echo "Generated by \`${BENCH_REPEAT:+BENCH_REPEAT=$repeat }${BENCH_SERVERS:+BENCH_SERVERS=\"$servers_wanted\" }tests/bench/run.sh\`"
    echo "on $(date -u '+%Y-%m-%d %H:%M UTC'), tree at $commit, in ${elapsed} s."
    [ -z "${BENCH_ROOMD:-}" ] || echo "roomd binary: $BENCH_ROOMD (not this tree's)."
    echo "Machine: $(nproc) cores ($cpu_model), $(free -g | awk '/^Mem:/ { print $2 }') GiB, Linux $(uname -r)."
    echo "Socket.IO $sio_version on Node $(node --version), perMessageDeflate off, websocket transport only"
    echo "but in the polling rows (tests/bench/node/server.js); roomd as"
    echo "\`roomd --port P --protocol bench --no-rate-limit\` (the senders outrun its default"
    echo "per-connection rate limits on purpose)."
    echo
    echo "Every run starts a fresh server on 127.0.0.1 and drives it with \`tests/bench/loadgen\`"
    echo "(one epoll thread, Socket.IO v4 over WebSocket, or over Engine.IO v4 HTTP long-polling"
    echo "in the polling rows). Each figure is the median of $repeat runs."
    [ -z "$roomd_note" ] || { echo; echo "**roomd was not measured: $roomd_note.**"; }
    echo
    cat "$table"
    echo
    echo "(!) marks a run that lost deliveries, connections or its server: not comparable as is."
    echo "(L) marks a run whose load generator used 90% or more of its core: the figure may be"
    echo "the load generator's limit rather than the server's."
    echo
    echo "![deliveries per second](fanout.png)"
    echo
    echo "## What the figures mean"
    echo
    echo "- *deliveries/s*: \`msg\` events received by all clients (sender included), over the time"
    echo "  from the first send to the last delivery. Senders keep a bounded number of their own"
    echo "  messages in flight (\`--inflight\`), so a faster server is given more work, never a backlog."
    echo "- *latency*: receipt time minus the send time stamped in the payload, per delivery."
    echo "- *RSS per connection*: server VmRSS with all clients joined, minus VmRSS before they connected,"
    echo "  divided by the connections (by the sessions in the polling row: each has a pending GET"
    echo "  and an idle keep-alive POST connection)."
    echo "- *connects+joins/s*: 10000 clients, at most 200 handshakes in flight, counted once each has"
    echo "  seen a message sent to its room after joining."
    echo "- *presence*: \`roomd --protocol rooms --presence\`; each client connects as user u<i>, joins"
    echo "  room r0 at once and keeps the member list from its \`presence\` snapshot and the"
    echo "  \`presence-diff\` frames; the time runs from the first connect until every list holds"
    echo "  exactly the 10000 users. RSS per member as in the idle row, one room of 10000."
    echo "- *slow consumer*: the last client stops reading once joined and reads again after the"
    echo "  others are done; the server's RSS is sampled every 0.5 s."
    echo
    echo "## Runs behind the figures"
    echo
    cat "$details"
    echo
    echo "Load generator arguments per scenario:"
    echo
    for scen in "${scenarios[@]}"; do
        echo "- $scen: \`loadgen --port P ${args[$scen]} --timeout 120\`"
    done
} >docs/bench/results.md

echo
cat "$table"
echo
echo "wrote docs/bench/results.md and docs/bench/fanout.png in ${elapsed} s"
