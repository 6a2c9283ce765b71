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
# A Socket.IO host builds against room-sio.pc alone.
cat > "$tmp/sio.c" <<'C'
#include <room/eio.h>
static int sink(void *t, room_frame *f, void *ud) { (void)t; (void)f; (void)ud; return 0; }
static void shut(void *t, int code, const char *why, void *ud) { (void)t; (void)code; (void)why; (void)ud; }
int main(void)
{
    room_eio_config cfg;
    room_eio *eio;
    room_eio_session *s;
    room_eio_config_init(&cfg);
    cfg.send = sink;
    cfg.close = shut;
    if (room_eio_new(&eio, &cfg, NULL) || room_eio_open(eio, NULL, 0, &s))
        return 1;
    room_eio_close(eio, s, "done");
    room_eio_free(eio);
    return 0;
}
C
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags room-sio) "$tmp/sio.c" -o "$tmp/sio" \
   $(pkg-config --libs room-sio)
LD_LIBRARY_PATH=$libdir "$tmp/sio"
# libroom links without any Socket.IO code.
if nm -D --defined-only "$libdir"/libroom.so | grep -Eq ' (room_eio_|room_codec_socketio_)'; then
    echo "libroom.so exports Socket.IO symbols:"
    nm -D --defined-only "$libdir"/libroom.so | grep -E ' (room_eio_|room_codec_socketio_)'
    exit 1
fi
if ! nm -D --defined-only "$libdir"/libroom-sio.so | grep -q ' room_eio_new'; then
    echo "libroom-sio.so does not export room_eio_new"; exit 1
fi
# Internal symbols stay hidden from the shared libraries.
for lib in libroom libroom-sio; do
    if nm -D --defined-only "$libdir/$lib.so" | grep -v ' room_' | grep -q ' T '; then
        echo "$lib: non-room_ symbols exported:"
        nm -D --defined-only "$libdir/$lib.so" | grep ' T ' | grep -v ' room_'
        exit 1
    fi
done
echo "2 passed, 0 failed"
