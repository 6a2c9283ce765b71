#!/bin/sh
# reference.sh TEST_FILE: runs one node:test file against the reference
# Socket.IO 4.8 server (tests/bench/node/server.js, started through
# roomd-like.sh with roomd's flags) instead of roomd, so that the tests that
# encode the reference's behaviour keep agreeing with it. Installs that
# server's pinned packages first if needed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
node_dir=$(cd "$here/../bench/node" && pwd)
flock "$node_dir" sh -c '
  cd "$1"
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund >&2
  fi' sh "$node_dir"
exec sh "$here/run.sh" "$node_dir/roomd-like.sh" "$1"
