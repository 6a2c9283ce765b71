/* Plain Engine.IO (config.message set): the host's own messages over
 * Engine.IO sessions, with no Socket.IO packets (docs/protocol-engineio.md).
 * Receiving is in session.c, which hands each message to the host. */
#include "sio_internal.h"

int room_eio_session_send(room_eio *eio, room_eio_session *s, int kind, const void *bytes,
                          size_t len)
{
    room_frame *frame;
    int rc;

    if (!eio || !s || !eio->cfg.message || (!bytes && len) ||
        (kind != ROOM_FRAME_TEXT && kind != ROOM_FRAME_BINARY))
        return ROOM_EINVAL;
    if (s->closing)
        return ROOM_ECLOSED;
    /* Text is a message packet ("4..."); binary is the bytes as they are,
     * behind v3's packet type byte (4). */
    room_buf_reset(eio->scratch);
    if (kind == ROOM_FRAME_BINARY && s->eio3)
        rc = room_buf_append(eio->scratch, "\x04", 1);
    else
        rc = kind == ROOM_FRAME_TEXT ? room_buf_append(eio->scratch, "4", 1) : 0;
    if (!rc)
        rc = room_buf_append(eio->scratch, bytes, len);
    frame = rc ? NULL
               : room_frame_new(eio->nsps[0]->hub, kind, room_buf_data(eio->scratch),
                                room_buf_len(eio->scratch));
    if (!frame)
        return ROOM_ENOMEM;
    rc = sio_send(eio, s, frame);
    room_frame_unref(frame);
    return rc;
}

void room_eio_session_shut(room_eio *eio, room_eio_session *s, const char *reason)
{
    if (!eio || !s)
        return;
    sio_shut(eio, s, ROOM_CLOSE_NORMAL, reason ? reason : "server close");
}
