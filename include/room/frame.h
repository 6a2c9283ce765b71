/*
 * libroom: encoded frames.
 *
 * A frame is one encoded outbound message, immutable once the hub hands it
 * to a send callback, and reference-counted so that one encoding serves
 * every recipient of a broadcast. A Socket.IO event with binary attachments
 * is a chain: the text frame first, then one binary frame per attachment
 * (room_frame_next()); the chain shares the first frame's reference count.
 *
 * If the hub was configured with a seal callback and seal_headroom, each
 * frame carries the transport's own header (a WebSocket frame header, say)
 * directly in front of the payload, so room_frame_wire() is ready to write
 * as is. Reference counts are not atomic: frames belong to the hub's thread,
 * and every frame must be released before room_hub_free().
 */
#ifndef ROOM_FRAME_H
#define ROOM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "room/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct room_frame room_frame;
struct room_hub;

enum { ROOM_FRAME_TEXT = 1, ROOM_FRAME_BINARY = 2 };

/* Takes a reference; returns `frame`. */
ROOM_API room_frame *room_frame_ref(room_frame *frame);
/* Drops a reference; the last one frees the whole chain. NULL-safe. */
ROOM_API void room_frame_unref(room_frame *frame);
/* The encoded message without transport header. */
ROOM_API const uint8_t *room_frame_payload(const room_frame *frame, size_t *len);
/* Transport header (if sealed) followed by the payload, contiguous. */
ROOM_API const uint8_t *room_frame_wire(const room_frame *frame, size_t *len);
ROOM_API size_t room_frame_header_len(const room_frame *frame);
/* ROOM_FRAME_TEXT or ROOM_FRAME_BINARY. */
ROOM_API int room_frame_kind(const room_frame *frame);
/* The next frame of the chain, or NULL. Borrowed from the chain. */
ROOM_API const room_frame *room_frame_next(const room_frame *frame);

/* A frame of the host's own (a handshake packet, say), sealed like hub
 * frames. Returns NULL when out of memory or when len exceeds 4 GiB. The
 * caller owns the one reference. */
ROOM_API room_frame *room_frame_new(struct room_hub *hub, int kind, const void *bytes, size_t len);

#ifdef __cplusplus
}
#endif

#endif
