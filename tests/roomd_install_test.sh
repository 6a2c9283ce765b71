#!/bin/sh
# meson install puts roomd, its man page roomd(1) (help2man, from --help)
# and its systemd unit in place: roomd_install_test.sh BUILD HAVE_MAN HAVE_SYSTEMD
# (1 or 0: whether help2man and libsystemd were found at setup).
set -eu
build=$1 have_man=$2 have_systemd=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp" --quiet >/dev/null
roomd=$(find "$tmp" -path '*/bin/roomd' -type f | head -n 1)
[ -n "$roomd" ] || { echo "roomd was not installed"; exit 1; }
libdir=$(dirname "$(find "$tmp" -name 'libroom.so' | head -n 1)")
LD_LIBRARY_PATH=$libdir "$roomd" --version | grep -q '^roomd [0-9]' || { echo "installed roomd --version failed"; exit 1; }
if [ "$have_man" = 1 ]; then
    man=$(find "$tmp" -path '*/man1/roomd.1' | head -n 1)
    [ -n "$man" ] || { echo "roomd.1 was not installed"; exit 1; }
    # Every option of --help is in the page (help2man escapes '-' as '\-').
    for opt in $(LD_LIBRARY_PATH=$libdir "$roomd" --help | grep -o '^  --[a-z0-9-]*' | tr -d ' '); do
        esc=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
        grep -q -e "$esc" "$man" || { echo "roomd.1 lacks $opt"; exit 1; }
    done
    for section in SYNOPSIS ENVIRONMENT SIGNALS LOGS 'EXIT STATUS'; do
        grep -q "^\.SH \"*$section" "$man" || { echo "roomd.1 lacks the section $section"; exit 1; }
    done
fi
unit=$(find "$tmp" -path '*/systemd/system/roomd.service' | head -n 1)
[ -n "$unit" ] || { echo "roomd.service was not installed"; exit 1; }
# ExecStart names the installed roomd (its path without the DESTDIR).
grep -qx "ExecStart=${roomd#"$tmp"}" "$unit" || { echo "roomd.service: ExecStart is not ${roomd#"$tmp"}"; exit 1; }
want=exec
[ "$have_systemd" = 1 ] && want=notify
grep -qx "Type=$want" "$unit" || { echo "roomd.service: Type is not $want"; exit 1; }
for key in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict; do
    grep -qx "$key" "$unit" || { echo "roomd.service lacks $key"; exit 1; }
done
if command -v systemd-analyze >/dev/null 2>&1; then
    # Checks the unit's keys and values; the binary must exist where
    # ExecStart says, and the man page is not installed on this system.
    sed "s|^ExecStart=.*|ExecStart=$roomd|" "$unit" > "$tmp/roomd.service"
    out=$(systemd-analyze verify "$tmp/roomd.service" 2>&1 | grep -v "Command 'man roomd(1)' failed" || true)
    [ -z "$out" ] || { echo "systemd-analyze verify: $out"; exit 1; }
fi
