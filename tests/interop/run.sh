#!/bin/sh
# run.sh ROOMD TEST_FILE: runs one node:test file against the roomd binary,
# installing the pinned client packages first if needed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
roomd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# meson runs the interop tests in parallel: one installer at a time.
flock "$here" sh -c '
  cd "$1"
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund >&2
  fi' sh "$here"
ROOMD=$roomd exec node --test "$here/$2"
