#!/bin/sh
# Builds libroom and runs roomd with the demo chat page (examples/web/) at /:
# open the URL it prints, then open it again in another browser or a private
# window to be a second user (a second tab stays the same user).
# The page talks the rooms protocol with presence, typing, connection-state
# recovery and history, through socket.io-client or the /ws JSON client, and
# edits each room's shared note through roomd's y-websocket mount (/yjs/).
# Usage: [ROOMD_PORT=8080] [ROOMD_HOST=0.0.0.0] sh examples/demo.sh [more roomd options]
set -eu
cd "$(dirname "$0")/.."
. tests/deps.sh
[ -d build-demo ] || meson setup build-demo --buildtype=release -Dws=enabled
ninja -C build-demo
# roomd reads ROOMD_PORT and ROOMD_HOST itself (every flag is also ROOMD_<NAME>).
port=${ROOMD_PORT:-3000}
host=${ROOMD_HOST:-127.0.0.1}
case $host in
0.0.0.0 | ::) shown=127.0.0.1 ;;
*:*) shown="[$host]" ;;
*) shown=$host ;;
esac
echo "libroom demo: open http://$shown:$port/ (a second browser or a private window is a second user); Ctrl-C stops it"
# Rooms' history and shared notes live in build-demo/demo.db: they outlast a restart.
exec build-demo/examples/roomd/roomd --static examples/web --presence --recovery-ms 30000 --history 200 \
    --data build-demo/demo.db "$@"
