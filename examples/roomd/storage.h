/* roomd --data FILE: one persistent store (libroom-sqlite) for the state of
 * every hub's rooms: shared storage (update logs) and history, kept apart
 * per hub by a scope. Without --data, hubs keep that state in memory and a
 * restart starts every room at a new epoch. */
#ifndef ROOMD_STORAGE_H
#define ROOMD_STORAGE_H

#include "options.h"
#include "room/eio.h"
#include "room/storage.h"

/* Opens o->data, if given, before any hub has state. On failure prints
 * "roomd: --data FILE: why" (SQLite's message) on stderr and returns the
 * error; 0 without --data. `log`/`user_data` get the store's write-failure
 * lines. */
int roomd_storage_open(const options *o, room_log_fn log, void *user_data);

/* The --data store for room_storage_config.store (libroom-yjs's config,
 * roomd_history_enable()); NULL without --data (memory only). Borrowed:
 * it lives until roomd_storage_close(). */
room_store *roomd_storage_store(void);

/* The scope that keeps one of roomd's hubs' rooms apart from the others'
 * in the store, the same at every start: "socket.io/" and
 * "socket.io/admin" for the namespaces of `eio`, "ws" for `json_hub` (/ws);
 * NULL for another hub. Mounts with hubs of their own (/yjs/) name theirs
 * after their path. */
const char *roomd_storage_scope(room_eio *eio, room_hub *json_hub, room_hub *hub);

/* Frees the store: after every hub that used it (their last state was
 * written when they were freed). */
void roomd_storage_close(void);

#endif
