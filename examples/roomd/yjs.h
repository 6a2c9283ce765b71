/* roomd's y-websocket mount (docs/protocol-yjs.md): Yjs documents at
 * <path><room>, for the stock y-websocket client. */
#ifndef ROOMD_YJS_H
#define ROOMD_YJS_H

#include "auth.h"
#include "options.h"
#include "room/ws.h"

typedef struct roomd_yjs roomd_yjs;

/* Mounts y-websocket at o->yjs_path ("/yjs/" by default; "off": nothing,
 * and *out is NULL) on `ws`, with its own hub, the room storage in memory,
 * and joins authorized by `auth` (borrowed for the mount's life) from the
 * query's token. Logs and returns a negative code on failure. */
int roomd_yjs_mount(room_ws *ws, const options *o, const roomd_auth *auth, roomd_yjs **out);
/* After room_ws_free(). NULL-safe. */
void roomd_yjs_free(roomd_yjs *y);

#endif
