/* Immutable, reference-counted encoded frames: encode once, share with
 * every recipient. */
#include <string.h>

#include "internal.h"

static size_t frame_size(const room_frame *f)
{
    return sizeof *f + f->headroom + f->len;
}

/* `pre` (plen bytes) then `bytes`: one copy of a prefixed payload. */
static room_frame *frame_alloc_prefixed(room_hub *hub, int kind, const void *pre, size_t plen,
                                        const void *bytes, size_t blen)
{
    size_t headroom = hub->cfg.seal ? hub->cfg.seal_headroom : 0, len = plen + blen;
    room_frame *f;
    if (blen > UINT32_MAX || len > UINT32_MAX)
        return NULL;
    f = rm_malloc(&hub->alloc, sizeof *f + headroom + len);
    if (!f)
        return NULL;
    f->refs = 1;
    f->len = (uint32_t)len;
    f->kind = (uint8_t)kind;
    f->header_len = 0;
    f->headroom = (uint8_t)headroom;
    f->alloc = &hub->alloc;
    f->head = f;
    f->next = NULL;
    if (plen)
        memcpy(f->bytes + headroom, pre, plen);
    if (blen)
        memcpy(f->bytes + headroom + plen, bytes, blen);
    if (hub->cfg.seal) {
        uint8_t header[RM_SEAL_MAX];
        size_t n = hub->cfg.seal(f, header, hub->cfg.user_data);
        if (n > headroom)
            n = 0; /* a seal callback that overflows is ignored, not trusted */
        memcpy(f->bytes + headroom - n, header, n);
        f->header_len = (uint8_t)n;
    }
    return f;
}

static room_frame *frame_alloc(room_hub *hub, int kind, const void *bytes, size_t len)
{
    return frame_alloc_prefixed(hub, kind, NULL, 0, bytes, len);
}

room_frame *rm_frame_make_prefixed(room_hub *hub, int kind, const void *prefix, size_t plen,
                                   const void *bytes, size_t len)
{
    return frame_alloc_prefixed(hub, kind, prefix, plen, bytes, len);
}

room_frame *rm_frame_make(room_hub *hub, int kind, const void *bytes, size_t len)
{
    return frame_alloc(hub, kind, bytes, len);
}

room_frame *rm_frame_make_chain(room_hub *hub, int kind, const void *bytes, size_t len,
                                const room_bytes *att, size_t natt)
{
    room_frame *head = frame_alloc(hub, kind, bytes, len), *tail = head;
    size_t i;
    for (i = 0; head && i < natt; i++) {
        room_frame *f = frame_alloc(hub, ROOM_FRAME_BINARY, att[i].data, att[i].len);
        if (!f) {
            room_frame_unref(head);
            return NULL;
        }
        f->head = head;
        tail->next = f;
        tail = f;
    }
    return head;
}

room_frame *room_frame_new(room_hub *hub, int kind, const void *bytes, size_t len)
{
    if (!hub || (kind != ROOM_FRAME_TEXT && kind != ROOM_FRAME_BINARY) || (!bytes && len))
        return NULL;
    return frame_alloc(hub, kind, bytes, len);
}

room_frame *room_frame_ref(room_frame *frame)
{
    frame->head->refs++;
    return frame;
}

void room_frame_unref(room_frame *frame)
{
    room_frame *f;
    if (!frame)
        return;
    f = frame->head;
    if (--f->refs)
        return;
    while (f) {
        room_frame *next = f->next;
        rm_free(f->alloc, f, frame_size(f));
        f = next;
    }
}

const uint8_t *room_frame_payload(const room_frame *frame, size_t *len)
{
    if (len)
        *len = frame->len;
    return frame->bytes + frame->headroom;
}

const uint8_t *room_frame_wire(const room_frame *frame, size_t *len)
{
    if (len)
        *len = frame->header_len + (size_t)frame->len;
    return frame->bytes + frame->headroom - frame->header_len;
}

size_t room_frame_header_len(const room_frame *frame)
{
    return frame->header_len;
}

int room_frame_kind(const room_frame *frame)
{
    return frame->kind;
}

const room_frame *room_frame_next(const room_frame *frame)
{
    return frame->next;
}

int rm_frame_encode(room_hub *hub, const char *event, json_t *const *argv, size_t argc,
                    int64_t ack_id, const room_bytes *att, size_t natt, room_frame **out)
{
    const room_codec *codec = &hub->codec;
    room_buf *buf = &hub->scratch;
    room_frame *head;
    int rc;

    buf->len = 0;
    if (ack_id == RM_ACK_LOGGED)
        rc = rm_encode_logged(hub, buf, event, argv, argc, natt);
    else if (event)
        rc = codec->encode_event(hub->cfg.codec, buf, event, argv, argc, ack_id, natt);
    else
        rc = codec->encode_ack(hub->cfg.codec, buf, ack_id, argv, argc, natt);
    if (rc)
        return rc;
    if (!(head = rm_frame_make_chain(hub, ROOM_FRAME_TEXT, buf->data, buf->len, att, natt)))
        return ROOM_ENOMEM;
    hub->stats.messages_out++;
    *out = head;
    return 0;
}
