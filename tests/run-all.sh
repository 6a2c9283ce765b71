#!/bin/sh
# The whole test suite, as CI runs it: warnings as errors, then the same
# suite under AddressSanitizer+UndefinedBehaviorSanitizer, then the C tests
# under valgrind. Usage: sh tests/run-all.sh
set -eu
cd "$(dirname "$0")/.."
. tests/deps.sh

meson setup build-ci --wipe -Dwerror=true -Dtests=enabled -Dws=enabled >/dev/null 2>&1 ||
    meson setup build-ci -Dwerror=true -Dtests=enabled -Dws=enabled
ninja -C build-ci
meson test -C build-ci --print-errorlogs

meson setup build-ci-asan --wipe -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dtests=enabled -Dws=enabled >/dev/null 2>&1 ||
    meson setup build-ci-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-ci-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-ci-asan --print-errorlogs --no-suite build

# valgrind runs the C test programs themselves (the Node clients are not ours).
meson test -C build-ci --print-errorlogs --suite core --suite sio --suite examples --suite ws --suite fuzz --suite sqlite --suite yjs \
    --wrap='valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite -q' \
    --timeout-multiplier=10
