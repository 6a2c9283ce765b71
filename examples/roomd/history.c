/* roomd's room history: the options into the core's storage settings. */
#include "history.h"

bool roomd_history_wanted(const options *o)
{
    return o->history_rooms || o->history_messages || o->history_ms || o->history_bytes;
}

void roomd_history_config(const options *o, room_storage_config *sc)
{
    if (!roomd_history_wanted(o))
        return;
    sc->history_rooms = o->history_rooms ? o->history_rooms : "*";
    sc->history_messages = o->history_messages;
    sc->history_ms = o->history_ms;
    sc->history_bytes = o->history_bytes;
}

int roomd_history_enable(room_hub *hub, const options *o, room_store *store, const char *scope)
{
    room_storage_config sc;
    if (!roomd_history_wanted(o) && !store)
        return 0;
    room_storage_config_init(&sc);
    roomd_history_config(o, &sc);
    sc.store = store;
    sc.store_scope = scope;
    return room_storage_enable(hub, &sc);
}
