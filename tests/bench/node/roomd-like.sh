#!/bin/sh
# server.js started as roomd would be, for the interop tests that check a
# behaviour against the reference: ROOMD=tests/bench/node/roomd-like.sh
exec node "$(dirname "$0")/server.js" "$@"
