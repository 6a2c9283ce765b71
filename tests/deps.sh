#!/bin/sh
# Installs the Debian packages libroom builds and tests with, when missing.
# Sourced by tests/run-all.sh and examples/demo.sh.
missing=""
for pkg in meson ninja-build gcc g++ pkg-config libjansson-dev libcmocka-dev libuv1-dev \
           libwslay-dev nettle-dev libhttp-parser-dev valgrind; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
done
# Node (test clients only) may come from elsewhere than Debian; any will do.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
    echo "installing:$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
