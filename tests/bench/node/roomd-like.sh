#!/bin/sh
# server.js started as roomd would be, with roomd's default transports (both),
# for the interop tests that check a behaviour against the reference:
#   ROOMD=tests/bench/node/roomd-like.sh node --test tests/interop/badhttp.test.js
exec node "$(dirname "$0")/server.js" --transports websocket,polling "$@"
