#!/bin/sh
# Builds libroom and runs the demo server: roomd on 127.0.0.1:3000 speaking
# the library's own protocol over Socket.IO (and plain JSON at /ws).
# Usage: sh examples/demo.sh [roomd options, e.g. --protocol diffy]
set -eu
cd "$(dirname "$0")/.."
. tests/deps.sh
[ -d build-demo ] || meson setup build-demo --buildtype=release -Dws=enabled
ninja -C build-demo
echo "roomd: connect with socket.io-client: io('http://127.0.0.1:3000', {transports: ['websocket']})"
exec build-demo/examples/roomd/roomd --port 3000 "$@"
