#!/bin/sh
# Runs the README example and checks that it wrote the frame it promises.
set -eu
out=$("$1")
want='{"event":"news","data":{"msg":"Hello","data":"world"}}'
[ "$out" = "$want" ] || { echo "README example wrote '$out', want '$want'"; exit 1; }
echo "1 passed, 0 failed"
