#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# loadgen-smoke: short bench-protocol and presence runs of loadgen against roomd.
# Usage: smoke.sh ROOMD LOADGEN
set -eu
roomd=$1
loadgen=$2
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

port=$(free_port)
"$roomd" --port "$port" --protocol bench &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
wait_listening "$port" "$pid" || { echo "roomd did not start listening on $port" >&2; exit 1; }

# Fan-out and many rooms, a handful of frames each: exit status 0 only when
# every client joined and every expected delivery arrived.
"$loadgen" --port "$port" --clients 50 --rooms 1 --messages 50 --inflight 4 --timeout 20
"$loadgen" --port "$port" --clients 200 --rooms 20 --messages 5 --timeout 20
# The same fan-out over HTTP long-polling (loadgen --transport polling).
"$loadgen" --port "$port" --transport polling --clients 50 --rooms 1 --messages 50 --inflight 4 --timeout 20

# Presence (loadgen --presence): 100 users in one room, each client's member
# list complete, then all but one leave; exit status 0 only if all of it held.
kill "$pid"
wait "$pid" 2>/dev/null || true
port=$(free_port)
"$roomd" --port "$port" --protocol rooms --presence &
pid=$!
wait_listening "$port" "$pid" || { echo "roomd --presence did not start listening on $port" >&2; exit 1; }
"$loadgen" --port "$port" --presence --clients 100 --timeout 20
