#!/bin/sh
# Installs the Debian packages libroom builds and tests with, when missing.
# Sourced by tests/run-all.sh, examples/demo.sh and tests/bench/run.sh.
pkgs="meson ninja-build gcc g++ pkg-config libjansson-dev libcmocka-dev libuv1-dev libwslay-dev
      nettle-dev libhttp-parser-dev valgrind libsqlite3-dev"
# The test suite also drives a real headless browser (tests/browser, which
# runs it with --no-sandbox --headless=new, as root in a container needs);
# the demo and the benchmark do not need it.
case $0 in
*run-all.sh) pkgs="$pkgs chromium" ;;
esac
missing=""
for pkg in $pkgs; do
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
