/* roomd --static DIR: the files under DIR at "/" (docs/roomd.md, "Static
 * files"). */
#ifndef ROOMD_STATIC_H
#define ROOMD_STATIC_H

#include "room/ws.h"

typedef struct roomd_static roomd_static;

/* Files larger than this are refused (403): they are read whole into
 * memory to be sent. */
#define ROOMD_STATIC_MAX_BYTES ((size_t)64 << 20)

/* Opens `dir` and routes "/" on `ws` to it (mounts and longer routes, such
 * as /healthz, come first). Returns 0, or -1 after logging why. */
int roomd_static_mount(room_ws *ws, const char *dir, roomd_static **out);
/* After the engine is freed. NULL-safe. */
void roomd_static_free(roomd_static *st);

#endif
