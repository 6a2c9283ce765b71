#!/bin/sh
# Installs the build into a scratch prefix and builds a program against it
# through pkg-config, as a packager or host would.
set -eu
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp" --quiet >/dev/null
pc=$(find "$tmp" -name room.pc | head -n 1)
[ -n "$pc" ] || { echo "room.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
# The install went under $tmp (DESTDIR); pkg-config prefixes its paths with the sysroot.
export PKG_CONFIG_SYSROOT_DIR="$tmp"
cat > "$tmp/hello.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <room/room.h>
static int sink(void *t, room_frame *f, void *ud) { (void)t; (void)f; ++*(int *)ud; return 0; }
int main(void)
{
    int sent = 0;
    room_config cfg;
    room_hub *hub;
    room_conn *conn;
    room_config_init(&cfg);
    cfg.send = sink;
    cfg.user_data = &sent;
    if (room_hub_new(&hub, &cfg) || room_conn_open(hub, NULL, &conn) || room_join(hub, conn, "r"))
        return 1;
    room_send_new(hub, "r", "hi", json_string("there"), NULL);
    room_hub_free(hub);
    if (sent != 1 || strcmp(room_version(), ROOM_VERSION_STRING))
        return 1;
    return 0;
}
C
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags room) "$tmp/hello.c" -o "$tmp/hello" \
   $(pkg-config --libs room)
libdir=$(pkg-config --variable=libdir room) # pkgconf already applies the sysroot
LD_LIBRARY_PATH=$libdir "$tmp/hello"
# Internal symbols stay hidden from the shared library.
if nm -D --defined-only "$libdir"/libroom.so | grep -v ' room_' | grep -q ' T '; then
    echo "non-room_ symbols exported:"; nm -D --defined-only "$libdir"/libroom.so | grep ' T ' | grep -v ' room_'
    exit 1
fi
echo "1 passed, 0 failed"
