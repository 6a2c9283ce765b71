/* roomd --data FILE: one persistent store (libroom-sqlite) for the state of
 * every hub's rooms: shared storage (update logs) and history, kept apart
 * per hub by a scope. Without --data, hubs keep that state in memory and a
 * restart starts every room at a new epoch. */
#ifndef ROOMD_STORAGE_H
#define ROOMD_STORAGE_H

#include "options.h"
#include "room/storage.h"

/* Opens o->data, if given, before any hub has state. On failure prints
 * "roomd: --data FILE: why" (SQLite's message) on stderr and returns the
 * error; 0 without --data. `log`/`user_data` get the store's write-failure
 * lines. */
int roomd_storage_open(const options *o, room_log_fn log, void *user_data);

/* room_storage_enable() on `hub` with `config` (NULL: the defaults) plus
 * the --data store under `scope` (a name unique to the hub, e.g. "sio/" for
 * the Socket.IO namespace "/", "ws" for /ws): every hub that keeps room
 * state enables it through here, right after the hub is made. Errors: those
 * of room_storage_enable(). */
int roomd_storage_enable(room_hub *hub, const char *scope, const room_storage_config *config);

/* Whether --data is in effect (for log lines and protocol choices). */
int roomd_storage_persistent(void);

/* Frees the store: after every hub that used it (their last state was
 * written when they were freed). */
void roomd_storage_close(void);

#endif
