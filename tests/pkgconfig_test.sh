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
n=2
# The WebSocket engine and its libuv binding, when built: each header
# compiles with exactly -std=c11 plus its .pc's cflags, links, runs, and
# each library exports its own prefix only.
if pkg-config --exists room-ws room-uv; then
    cat > "$tmp/ws.c" <<'C'
#include <room/ws.h>
int main(void)
{
    room_ws_config cfg;
    room_ws *ws;
    room_ws_config_init(&cfg);
    if (room_ws_new(&ws, &cfg) != 0)
        return 1;
    room_ws_free(ws);
    return 0;
}
C
    cat > "$tmp/uv.c" <<'C'
#include <room/ws_uv.h>
int main(void)
{
    uv_loop_t loop;
    room_uv_config cfg;
    room_uv_server *srv;
    room_ws *ws;
    room_uv_config_init(&cfg);
    if (uv_loop_init(&loop) || room_ws_new(&ws, NULL) || room_uv_server_new(&srv, &loop, ws, &cfg))
        return 1;
    room_uv_server_free(srv);
    room_ws_free(ws);
    return uv_loop_close(&loop);
}
C
    for lib in ws uv; do
        cc -std=c11 -Wall -Wextra -Wpedantic -Werror $(pkg-config --cflags room-$lib) "$tmp/$lib.c" \
           -o "$tmp/$lib" $(pkg-config --libs room-$lib)
        LD_LIBRARY_PATH=$libdir "$tmp/$lib"
        if nm -D --defined-only "$libdir/libroom-$lib.so" | grep ' T ' | grep -qv " room_${lib}_"; then
            echo "libroom-$lib exports more than room_${lib}_*:"
            nm -D --defined-only "$libdir/libroom-$lib.so" | grep ' T ' | grep -v " room_${lib}_"
            exit 1
        fi
    done
    # The engine needs no event loop.
    if pkg-config --print-requires room-ws | grep -q libuv; then
        echo "room-ws.pc requires libuv"
        exit 1
    fi
    n=4
fi
# The SQLite store, when built: its header alone with its .pc's cflags,
# a store opened and freed, and only room_store_sqlite_* exported.
if pkg-config --exists room-sqlite; then
    cat > "$tmp/sqlite.c" <<'C'
#include <room/sqlite.h>
int main(int argc, char **argv)
{
    room_store *store;
    char why[128];
    (void)argc;
    if (room_store_sqlite_open(&store, argv[1], NULL, why, sizeof why) != 0)
        return 1;
    room_store_free(store);
    return 0;
}
C
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror $(pkg-config --cflags room-sqlite) "$tmp/sqlite.c" \
       -o "$tmp/sqlite" $(pkg-config --libs room-sqlite)
    LD_LIBRARY_PATH=$libdir "$tmp/sqlite" "$tmp/rooms.db"
    if nm -D --defined-only "$libdir/libroom-sqlite.so" | grep ' T ' | grep -qv ' room_store_sqlite_'; then
        echo "libroom-sqlite exports more than room_store_sqlite_*:"
        nm -D --defined-only "$libdir/libroom-sqlite.so" | grep ' T ' | grep -v ' room_store_sqlite_'
        exit 1
    fi
    n=$((n + 1))
fi
# libroom-yjs: its header alone with its .pc's cflags, the codec and a
# room_yjs on a hub, and only room_yjs_* exported.
if pkg-config --exists room-yjs; then
    cat > "$tmp/yjs.c" <<'C'
#include <room/yjs.h>
static int sink(void *t, room_frame *f, void *ud) { (void)t; (void)f; (void)ud; return 0; }
int main(void)
{
    uint8_t b[ROOM_YJS_VARUINT_MAX];
    size_t n = room_yjs_write_uint(b, 300), pos = 0;
    uint64_t v = 0;
    room_config cfg;
    room_hub *hub;
    room_yjs *yjs;
    if (room_yjs_read_uint(b, n, &pos, &v) != 0 || v != 300)
        return 1;
    room_config_init(&cfg);
    cfg.send = sink;
    if (room_hub_new(&hub, &cfg) || room_yjs_new(&yjs, hub, NULL))
        return 1;
    room_yjs_free(yjs);
    room_hub_free(hub);
    return 0;
}
C
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror $(pkg-config --cflags room-yjs) "$tmp/yjs.c" \
       -o "$tmp/yjs" $(pkg-config --libs room-yjs)
    LD_LIBRARY_PATH=$libdir "$tmp/yjs"
    if nm -D --defined-only "$libdir/libroom-yjs.so" | grep ' T ' | grep -qv ' room_yjs_'; then
        echo "libroom-yjs exports more than room_yjs_*:"
        nm -D --defined-only "$libdir/libroom-yjs.so" | grep ' T ' | grep -v ' room_yjs_'
        exit 1
    fi
    n=$((n + 1))
fi
echo "$n passed, 0 failed"
