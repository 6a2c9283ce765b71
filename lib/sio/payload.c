/* HTTP long-polling payloads: several Engine.IO packets in one request or
 * response body (docs/protocol-engineio.md).
 *
 *   v4 (engine.io-parser 5): packets joined by "\x1e"; a binary message is
 *      "b" + base64 of its bytes.
 *   v3 (engine.io-parser 2), text: "<length>:<packet>" repeated, the length
 *      in UTF-16 code units (JavaScript's string length); a binary message
 *      is "b4" + base64 when the client asked for b64=1.
 *   v3, binary (XHR2 clients, application/octet-stream): per packet a byte
 *      0 (text) or 1 (binary), the length as one byte per decimal digit,
 *      255, then the packet: text as UTF-8, binary as its type byte (4)
 *      and the bytes.
 *
 * Decoding is strict: the whole body is checked before any packet is
 * delivered, so a malformed payload delivers nothing. */
#include <string.h>

#include <nettle/base64.h>

#include "sio_internal.h"

static const char text_type[] = "text/plain; charset=UTF-8";
static const char binary_type[] = "application/octet-stream";

/* The longest length a v3 payload may announce, in digits: more than any
 * body the host accepts. */
#define SIO_MAX_LENGTH_DIGITS 10

/* ---- UTF-8 and UTF-16 --------------------------------------------------- */

bool sio_utf8_units(const uint8_t *p, size_t len, size_t *units)
{
    size_t bytes;
    return room_utf8_walk(p, len, SIZE_MAX, &bytes, units) == 0 && bytes == len;
}

/* ---- base64 -------------------------------------------------------------- */

/* A base64 digit's value, or -1. */
static int b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard alphabet, padded, with the unused bits before the padding 0:
 * what Node and browsers write, and all that nettle accepts (which alone
 * would also skip whitespace). */
static bool b64_valid(const uint8_t *p, size_t len)
{
    size_t i, pad = 0;
    if (len % 4)
        return false;
    if (len && p[len - 1] == '=')
        pad = p[len - 2] == '=' ? 2 : 1;
    for (i = 0; i < len - pad; i++) {
        if (b64_value(p[i]) < 0)
            return false;
    }
    /* One pad: 2 bits left over; two: 4. */
    return !pad || (b64_value(p[len - pad - 1]) & (pad == 1 ? 3 : 15)) == 0;
}

/* Decodes base64 that b64_valid() accepted into a new buffer (*out,
 * *out_len; free with sio_free()). ROOM_EPROTO if nettle disagrees, which
 * the payload fuzz target would report. */
static int b64_decode(room_eio *eio, const uint8_t *p, size_t len, uint8_t **out, size_t *out_len)
{
    struct base64_decode_ctx ctx;
    uint8_t *buf = sio_malloc(&eio->alloc, BASE64_DECODE_LENGTH(len) + 1);
    if (!buf)
        return ROOM_ENOMEM;
    base64_decode_init(&ctx);
    if (!base64_decode_update(&ctx, out_len, buf, len, (const char *)p) ||
        !base64_decode_final(&ctx)) {
        sio_free(&eio->alloc, buf);
        return ROOM_EPROTO;
    }
    *out = buf;
    return 0;
}

static int b64_append(room_buf *out, const uint8_t *p, size_t len)
{
    char chunk[BASE64_ENCODE_RAW_LENGTH(96)];
    int rc = 0;
    while (!rc && len) {
        size_t n = len > 96 ? 96 : len;
        base64_encode_raw(chunk, n, p);
        rc = room_buf_append(out, chunk, BASE64_ENCODE_RAW_LENGTH(n));
        p += n;
        len -= n;
    }
    return rc;
}

/* ---- decoding -------------------------------------------------------------- */

/* One packet of a payload, as the body holds it. */
typedef struct sio_piece {
    int kind;          /* ROOM_FRAME_TEXT: a packet; BINARY: a message's bytes */
    bool base64;       /* binary, as base64 text */
    const uint8_t *p;
    size_t len;
} sio_piece;

/* A text piece: a packet, or "b"/"b4" + base64 (v4/v3). Checked, not yet
 * decoded. */
static bool text_piece(const uint8_t *p, size_t len, bool eio3, sio_piece *piece)
{
    size_t units, skip = eio3 ? 2 : 1;
    if (len == 0)
        return false;
    if (p[0] == 'b') {
        if (len < skip || (eio3 && p[1] != '4') || !b64_valid(p + skip, len - skip))
            return false;
        *piece = (sio_piece){ROOM_FRAME_BINARY, true, p + skip, len - skip};
        return true;
    }
    *piece = (sio_piece){ROOM_FRAME_TEXT, false, p, len};
    return sio_utf8_units(p, len, &units);
}

/* A decimal length without leading zeros: from text digits ('0'..'9',
 * until ':') or digit bytes (0..9, until 255). */
static bool length_of(const uint8_t *p, size_t len, size_t *i, uint8_t zero, uint8_t end,
                      size_t *n)
{
    size_t start = *i, v = 0;
    while (*i < len && p[*i] != end) {
        uint8_t d = (uint8_t)(p[*i] - zero);
        if (d > 9 || *i - start == SIO_MAX_LENGTH_DIGITS || (*i > start && v == 0))
            return false;
        v = v * 10 + d;
        (*i)++;
    }
    if (*i == start || *i == len)
        return false;
    (*i)++;
    *n = v;
    return true;
}

/* Where the walk puts each packet: nowhere (checking), or to the session. */
typedef struct sio_sink {
    room_eio *eio;     /* NULL: only check */
    room_eio_session *s;
    int first;         /* the first error a packet returned */
} sio_sink;

static void deliver(sio_sink *sink, const sio_piece *piece)
{
    room_eio *eio = sink->eio;
    uint8_t *bytes;
    size_t len;
    int rc;
    if (!eio || sink->s->closing)
        return;
    if (!piece->base64) {
        rc = sio_recv_engine(eio, sink->s, piece->kind, piece->p, piece->len);
    } else if ((rc = b64_decode(eio, piece->p, piece->len, &bytes, &len)) == ROOM_EPROTO) {
        sio_violation(eio, sink->s, "invalid payload");
    } else if (rc) {
        sio_shut(eio, sink->s, ROOM_CLOSE_INTERNAL_ERROR, "out of memory");
    } else {
        rc = sio_recv_engine(eio, sink->s, ROOM_FRAME_BINARY, bytes, len);
        sio_free(&eio->alloc, bytes);
    }
    if (rc < 0 && !sink->first)
        sink->first = rc;
}

static bool walk_v4(const uint8_t *p, size_t len, sio_sink *sink)
{
    size_t start = 0;
    for (;;) {
        const uint8_t *sep = memchr(p + start, 0x1e, len - start);
        size_t end = sep ? (size_t)(sep - p) : len;
        sio_piece piece;
        if (!text_piece(p + start, end - start, false, &piece))
            return false;
        deliver(sink, &piece);
        if (!sep)
            return true;
        start = end + 1;
    }
}

static bool walk_v3_text(const uint8_t *p, size_t len, sio_sink *sink)
{
    size_t i = 0;
    if (len == 0)
        return false;
    while (i < len) {
        size_t units, bytes, got;
        sio_piece piece;
        if (!length_of(p, len, &i, '0', ':', &units) ||
            room_utf8_walk(p + i, len - i, units, &bytes, &got) != 0 || got != units)
            return false;
        /* engine.io-parser 2 skips empty packets. */
        if (bytes) {
            if (!text_piece(p + i, bytes, true, &piece))
                return false;
            deliver(sink, &piece);
        }
        i += bytes;
    }
    return true;
}

static bool walk_v3_binary(const uint8_t *p, size_t len, sio_sink *sink)
{
    size_t i = 0;
    if (len == 0)
        return false;
    while (i < len) {
        uint8_t flag = p[i++];
        size_t size;
        sio_piece piece;
        if (flag > 1 || !length_of(p, len, &i, 0, 255, &size) || size > len - i)
            return false;
        if (flag == 0) {
            if (!text_piece(p + i, size, true, &piece))
                return false;
        } else {
            /* A binary packet: its type byte, a message's, then the bytes. */
            if (size == 0 || p[i] != 4)
                return false;
            piece = (sio_piece){ROOM_FRAME_BINARY, false, p + i + 1, size - 1};
        }
        deliver(sink, &piece);
        i += size;
    }
    return true;
}

static bool walk(const room_eio_session *s, const uint8_t *p, size_t len, bool binary_body,
                 sio_sink *sink)
{
    if (!s->eio3)
        return !binary_body && walk_v4(p, len, sink);
    return binary_body ? walk_v3_binary(p, len, sink) : walk_v3_text(p, len, sink);
}

int sio_recv_base64(room_eio *eio, room_eio_session *s, const uint8_t *p, size_t len)
{
    sio_sink sink = {eio, s, 0};
    sio_piece piece;
    if (!text_piece(p, len, s->eio3, &piece) || piece.kind != ROOM_FRAME_BINARY)
        return sio_violation(eio, s, "invalid Engine.IO packet");
    deliver(&sink, &piece);
    return sink.first;
}

int room_eio_recv_payload(room_eio *eio, room_eio_session *s, const void *body, size_t len,
                          bool binary_body, uint64_t now_ms)
{
    sio_sink check = {NULL, s, 0}, sink = {eio, s, 0};

    if (!eio || !s || (!body && len))
        return ROOM_EINVAL;
    if (s->closing)
        return ROOM_ECLOSED;
    eio->now = now_ms;
    /* Checked whole first, so that a malformed payload delivers nothing. */
    if (!walk(s, body, len, binary_body, &check))
        return sio_violation(eio, s, "invalid payload");
    walk(s, body, len, binary_body, &sink);
    return sink.first;
}

/* ---- encoding ---------------------------------------------------------------- */

static bool has_binary(room_frame *const *frames, size_t nframes)
{
    for (size_t i = 0; i < nframes; i++) {
        for (const room_frame *f = frames[i]; f; f = room_frame_next(f)) {
            if (room_frame_kind(f) == ROOM_FRAME_BINARY)
                return true;
        }
    }
    return false;
}

/* v4: "\x1e"-joined, binary as "b" + base64. */
static int encode_v4(const room_frame *f, bool first, room_buf *out)
{
    size_t len;
    const uint8_t *p = room_frame_payload(f, &len);
    int rc = first ? 0 : room_buf_append(out, "\x1e", 1);
    if (rc)
        return rc;
    if (room_frame_kind(f) == ROOM_FRAME_TEXT)
        return room_buf_append(out, p, len);
    rc = room_buf_append(out, "b", 1);
    return rc ? rc : b64_append(out, p, len);
}

/* v3 text: "<UTF-16 length>:<packet>", binary as "b4" + base64 (the
 * frame's first byte is its type). */
static int encode_v3_text(const room_frame *f, room_buf *out)
{
    size_t len, units;
    const uint8_t *p = room_frame_payload(f, &len);
    int rc;
    if (room_frame_kind(f) == ROOM_FRAME_TEXT) {
        if (!sio_utf8_units(p, len, &units))
            return ROOM_EINVAL;
        rc = room_buf_append_int(out, (int64_t)units);
        if (!rc)
            rc = room_buf_append(out, ":", 1);
        return rc ? rc : room_buf_append(out, p, len);
    }
    if (len == 0 || p[0] > 9)
        return ROOM_EINVAL;
    /* "b", the type digit, and base64 of the rest: all ASCII. */
    rc = room_buf_append_int(out, (int64_t)(2 + BASE64_ENCODE_RAW_LENGTH(len - 1)));
    if (!rc)
        rc = room_buf_append(out, ":b", 2);
    if (!rc)
        rc = room_buf_append_int(out, p[0]);
    return rc ? rc : b64_append(out, p + 1, len - 1);
}

/* v3 binary: 0 or 1, the length's digits as bytes, 255, the packet. */
static int encode_v3_binary(const room_frame *f, room_buf *out)
{
    size_t len;
    const uint8_t *p = room_frame_payload(f, &len);
    uint8_t head[2 + 20];
    size_t n = 0, digits = 0, v = len;
    char text[20];
    do {
        text[digits++] = (char)(v % 10);
        v /= 10;
    } while (v);
    head[n++] = room_frame_kind(f) == ROOM_FRAME_BINARY;
    while (digits)
        head[n++] = (uint8_t)text[--digits];
    head[n++] = 255;
    int rc = room_buf_append(out, head, n);
    return rc ? rc : room_buf_append(out, p, len);
}

int room_eio_payload_encode(const room_eio_session *s, room_frame *const *frames, size_t nframes,
                            room_buf *out, const char **content_type)
{
    bool binary, first = true;
    int rc = 0;

    if (!s || !out || !content_type || (!frames && nframes))
        return ROOM_EINVAL;
    binary = s->eio3 && !s->b64 && has_binary(frames, nframes);
    *content_type = binary ? binary_type : text_type;
    /* engine.io-parser 2 answers nothing with "0:". */
    if (s->eio3 && !nframes)
        return room_buf_append(out, "0:", 2);
    for (size_t i = 0; !rc && i < nframes; i++) {
        for (const room_frame *f = frames[i]; !rc && f; f = room_frame_next(f)) {
            if (!s->eio3)
                rc = encode_v4(f, first, out);
            else
                rc = binary ? encode_v3_binary(f, out) : encode_v3_text(f, out);
            first = false;
        }
    }
    return rc;
}
