/* roomd's room history (docs/history.md, docs/roomd.md): --history,
 * --history-ms, --history-bytes and --history-rooms turn it on for the
 * rooms protocol's hubs. */
#ifndef ROOMD_HISTORY_H
#define ROOMD_HISTORY_H

#include "options.h"
#include "room/storage.h"

/* Whether any history option was given. */
bool roomd_history_wanted(const options *o);
/* Fills the history settings of `sc` (after room_storage_config_init())
 * from the options: the rooms of --history-rooms ("*" when only the
 * limits were given) keep the last --history messages and/or none older
 * than --history-ms, at most --history-bytes each. The caller sets the
 * store. */
void roomd_history_config(const options *o, room_storage_config *sc);
/* room_storage_enable() on a rooms hub with those settings and `store`
 * (NULL: memory only, lost at exit) under `scope` (NULL: ""). 0 without
 * history options and no store; else what room_storage_enable() returns. */
int roomd_history_enable(room_hub *hub, const options *o, room_store *store, const char *scope);

#endif
