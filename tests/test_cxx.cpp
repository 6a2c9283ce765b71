// Every public header must compile as C++ and link from C++, and the inline
// room_config_init() must give a C++ program a working hub: one multi-
// argument event, checked byte for byte as delivered.
#include "room/adapter.h"
#include "room/codec.h"
#include "room/eio.h"
#include "room/frame.h"
#include "room/history.h"
#include "room/presence.h"
#include "room/room.h"
#include "room/storage.h"
#include "room/version.h"
#ifdef ROOM_TEST_SQLITE
#include "room/sqlite.h"
#endif

#include <cstdio>
#include <string>

static int capture(void *transport, room_frame *frame, void *)
{
    size_t len;
    const uint8_t *bytes = room_frame_payload(frame, &len);
    static_cast<std::string *>(transport)->assign(reinterpret_cast<const char *>(bytes), len);
    return 0;
}

static int check(bool ok, const char *what)
{
    if (!ok)
        std::printf("failed: %s\n", what);
    return ok ? 0 : 1;
}

int main()
{
    room_config cfg;
    room_eio_config ecfg;
    room_eio *eio = nullptr;
    room_hub *hub = nullptr;
    room_conn *conn = nullptr;
    std::string got;
    int failed = 0;

    room_config_init(&cfg);
    cfg.send = capture;
    failed += check(room_hub_new(&hub, &cfg) == 0, "room_hub_new");
    failed += check(hub && room_conn_open(hub, &got, &conn) == 0, "room_conn_open");
    failed += check(conn && room_join(hub, conn, "r") == 0, "room_join");
    if (!failed) {
        json_t *argv[] = {json_integer(1), json_string("2"), json_pack("{si}", "three", 3)};
        failed += check(room_send_args(hub, "r", "x", argv, 3, nullptr, 0, nullptr) == 1, "room_send_args");
        failed += check(got == "{\"event\":\"x\",\"data\":1,\"args\":[1,\"2\",{\"three\":3}]}", got.c_str());
        for (json_t *v : argv)
            json_decref(v);
    }
    // The Engine.IO config's inline init, compiled as C++: no send callback
    // yet, so it is refused.
    room_eio_config_init(&ecfg);
    failed += check(room_eio_new(&eio, &ecfg, nullptr) == ROOM_EINVAL && eio == nullptr, "room_eio_new refusal");
    failed += check(std::string(room_version()) == ROOM_VERSION_STRING, "version");
#ifdef ROOM_TEST_SQLITE
    // The SQLite store's inline config init, and a refusal without a path.
    room_store_sqlite_config scfg;
    room_store *store = nullptr;
    char why[64];
    room_store_sqlite_config_init(&scfg);
    failed += check(room_store_sqlite_open(&store, nullptr, &scfg, why, sizeof why) == ROOM_EINVAL &&
                        store == nullptr,
                    "room_store_sqlite_open refusal");
#endif
    room_hub_free(hub);
    std::printf("%d passed, %d failed\n", failed ? 0 : 1, failed ? 1 : 0);
    return failed ? 1 : 0;
}
