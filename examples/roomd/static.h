/* roomd --static DIR: the files under DIR at "/" (docs/roomd.md, "Static
 * files"). */
#ifndef ROOMD_STATIC_H
#define ROOMD_STATIC_H

#include <stddef.h>

#include "room/ws.h"

typedef struct roomd_static roomd_static;

/* Files larger than this are refused (403): they are read whole into
 * memory to be sent. */
#define ROOMD_STATIC_MAX_BYTES ((size_t)64 << 20)

/* The request path `p` (`len` bytes, percent-encoded, untrusted) as a path
 * relative to the root in `out` (`cap` bytes, at least 2): "" for the root,
 * "a/b.js" for "/a//b.js/"; never an empty, "." or ".." segment, nor one
 * starting with '.', nor a NUL. Returns 0, or the status to answer: 400
 * (bad percent-encoding), 404 (an encoded '/' or '\', a NUL, a segment
 * starting with '.'), 414 (longer than `cap`). Pure. */
#define ROOMD_STATIC_PATH_BYTES 4096
int roomd_static_path(const char *p, size_t len, char *out, size_t cap);

/* Opens `dir` and routes "/" on `ws` to it (mounts and longer routes, such
 * as /healthz, come first). Returns 0, or -1 after logging why. */
int roomd_static_mount(room_ws *ws, const char *dir, roomd_static **out);
/* After the engine is freed. NULL-safe. */
void roomd_static_free(roomd_static *st);

#endif
