#!/bin/sh
# run.sh ROOMD TEST_FILE [PROTOCOLS]: runs one node:test file against the
# roomd binary (or another server that takes roomd's options and prints its
# "listening" line, speaking only PROTOCOLS, e.g. "rooms"), installing the
# pinned client packages first if needed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
roomd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# meson runs the interop tests in parallel: one installer at a time.
flock "$here" sh -c '
  cd "$1"
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund >&2
  fi' sh "$here"
if [ -n "${3:-}" ]; then
    export ROOMD_PROTOCOLS="$3"
fi
ROOMD=$roomd exec node --test "$here/$2"
