/* roomd's room state on disk (--data FILE, storage.h): the one SQLite
 * store that every hub keeping room state is given, each under its own
 * scope. roomd is one process with one store, held here. */
#include "storage.h"

#include <signal.h>
#include <stdio.h>

#ifdef ROOMD_HAVE_SQLITE
#include "room/sqlite.h"
#endif

static room_store *store;

int roomd_storage_open(const options *o, room_log_fn log, void *user_data)
{
#ifdef ROOMD_HAVE_SQLITE
    room_store_sqlite_config cfg;
    char why[256];
    int rc;

    if (!o->data)
        return 0;
    if (!o->data[0]) {
        fprintf(stderr, "roomd: --data wants a file name\n");
        return ROOM_EINVAL;
    }
    /* A file size limit (ulimit -f, systemd's LimitFSIZE) must fail the
     * write (EFBIG: the rooms turn read-only, logged), not kill roomd. */
    signal(SIGXFSZ, SIG_IGN);
    room_store_sqlite_config_init(&cfg);
    cfg.log = log;
    cfg.user_data = user_data;
    /* A corrupt page is found at start, with the file named, not later by
     * the room it belongs to. */
    cfg.quick_check = 1;
    if ((rc = room_store_sqlite_open(&store, o->data, &cfg, why, sizeof why)) != 0) {
        fprintf(stderr, "roomd: --data %s: %s\n", o->data, why);
        return rc;
    }
    room_logf(log, user_data, ROOM_LOG_INFO,
              "rooms' storage and history: SQLite file %s (write-ahead log, synced within 1 s)",
              o->data);
    return 0;
#else
    (void)log, (void)user_data;
    if (!o->data)
        return 0;
    fprintf(stderr, "roomd: --data %s: this roomd was built without libroom-sqlite "
                    "(install libsqlite3-dev and rebuild)\n",
            o->data);
    return ROOM_EINVAL;
#endif
}

room_store *roomd_storage_store(void)
{
    return store;
}

const char *roomd_storage_scope(room_eio *eio, room_hub *json_hub, room_hub *hub)
{
    if (hub && hub == room_eio_hub(eio, "/"))
        return "socket.io/";
    if (hub && hub == room_eio_hub(eio, "/admin"))
        return "socket.io/admin";
    if (hub && hub == json_hub)
        return "ws";
    return NULL;
}

void roomd_storage_close(void)
{
    room_store_free(store);
    store = NULL;
}
