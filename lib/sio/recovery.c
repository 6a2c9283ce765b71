/* Socket.IO's connection-state recovery on top of the core's
 * (docs/recovery.md): the CONNECT auth's {pid, offset} become the resume
 * arguments, and the CONNECT reply names the private id. */
#include <string.h>

#include "sio_internal.h"

void sio_recovery_args(room_hub *hub, json_t *auth, uint64_t now_ms, room_open_args *args)
{
    /* The window is measured in the hub's time: bring it to now. */
    room_hub_set_time(hub, now_ms);
    /* Socket.IO resumes only when both are strings. */
    args->resume_pid = json_string_value(json_object_get(auth, "pid"));
    args->resume_offset = json_string_value(json_object_get(auth, "offset"));
    if (!args->resume_pid || !args->resume_offset)
        args->resume_pid = args->resume_offset = NULL;
}

int sio_recovery_connected(room_buf *b, const room_hub *hub, const room_conn *conn)
{
    const char *pid = room_conn_pid(hub, conn);
    int rc;
    if (!*pid)
        return 0;
    rc = room_buf_append(b, "\",\"pid\":\"", 9);
    return rc ? rc : room_buf_append(b, pid, strlen(pid));
}
