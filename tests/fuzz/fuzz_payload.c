/* HTTP long-polling payloads (room_eio_recv_payload()): the first byte
 * chooses how the body is read, the rest is one POST body of a polling
 * session.
 *
 *   bits 0-1  0: v4 text, 1: v3 text, 2: v3 binary framing (an XHR2
 *             client's application/octet-stream), 3: v3 text from a b64=1
 *             client
 *   bit 2     plain Engine.IO (every message to the host, echoed back)
 *             instead of Socket.IO ("/" with the rooms protocol)
 *   bit 3     post the body twice
 *
 * Checked: a refused body asked for a close; a body refused as a payload
 * delivered nothing (no message, nothing sent); whatever the session was
 * sent encodes as a poll response, which decodes again as a payload (the
 * two directions agree); the session count; nothing allocated after
 * room_eio_free(). */
#include <string.h>

#include "fuzz.h"
#include "room/eio.h"
#include "room/protocol.h"

#define MAX_CHAINS 64

typedef struct peer {
    room_eio_session *session;
    room_frame *chains[MAX_CHAINS]; /* what it was sent, referenced */
    size_t nchains, dropped;
    int close_asked;
    char reason[32];
} peer;

static size_t messages; /* plain mode: messages the host got */

static int p_send(void *transport, room_frame *frame, void *ud)
{
    peer *p = transport;
    (void)ud;
    if (p->nchains < MAX_CHAINS)
        p->chains[p->nchains++] = room_frame_ref(frame);
    else
        p->dropped++;
    return 0;
}

static void p_close(void *transport, int code, const char *reason, void *ud)
{
    peer *p = transport;
    (void)ud;
    FUZZ_CHECK(code >= 1000 && code < 5000 && reason);
    p->close_asked = 1;
    strncpy(p->reason, reason, sizeof p->reason - 1);
}

static void echo(room_eio *eio, room_eio_session *s, int kind, const void *bytes, size_t len,
                 void *ud)
{
    int rc = room_eio_session_send(eio, s, kind, bytes, len);
    (void)ud;
    FUZZ_CHECK(rc == 0 || rc == ROOM_ENOMEM);
    messages++;
}

static room_eio *make_eio(fuzz_alloc *counts, bool plain)
{
    room_eio_config ecfg;
    room_config hcfg;
    room_eio *eio;
    room_eio_config_init(&ecfg);
    ecfg.send = p_send;
    ecfg.close = p_close;
    ecfg.allocator = fuzz_allocator(counts);
    ecfg.allow_eio3 = true;
    ecfg.message = plain ? echo : NULL;
    room_config_init(&hcfg);
    hcfg.random = fuzz_random;
    hcfg.max_message_bytes = 4096;
    hcfg.unknown_events = ROOM_UNKNOWN_IGNORE;
    FUZZ_CHECK(room_eio_new(&eio, &ecfg, &hcfg) == 0);
    FUZZ_CHECK(plain || room_protocol_rooms_register(room_eio_hub(eio, "/")) == 0);
    return eio;
}

static void open_peer(room_eio *eio, peer *p, int protocol, bool b64)
{
    room_eio_request req;
    json_t *query = b64 ? json_pack("{ss}", "b64", "1") : NULL;
    room_eio_request_init(&req);
    req.transport = ROOM_EIO_POLLING;
    req.protocol = protocol;
    req.query = query;
    memset(p, 0, sizeof *p);
    FUZZ_CHECK(room_eio_accept(eio, p, &req, 0, &p->session) == 0);
    json_decref(query);
}

static void release(peer *p)
{
    for (size_t i = 0; i < p->nchains; i++)
        room_frame_unref(p->chains[i]);
    p->nchains = 0;
}

static void post(room_eio *eio, peer *p, const uint8_t *body, size_t len, bool binary)
{
    size_t before = p->nchains + p->dropped, seen = messages;
    int rc;
    if (p->close_asked)
        return;
    rc = room_eio_recv_payload(eio, p->session, body, len, binary, 0);
    FUZZ_CHECK(rc != ROOM_EPROTO || p->close_asked);
    if (p->close_asked && strcmp(p->reason, "invalid payload") == 0)
        FUZZ_CHECK(rc == ROOM_EPROTO && p->nchains + p->dropped == before && messages == seen);
}

/* What `p` was sent, as a poll response, read back by a fresh session of
 * the same kind: the payload must decode. */
static void round_trip(room_eio *eio, peer *p, int protocol, bool b64)
{
    room_buf *out;
    const char *type;
    peer q;
    if (!p->nchains)
        return;
    FUZZ_CHECK(room_buf_new(&out, NULL) == 0);
    FUZZ_CHECK(room_eio_payload_encode(p->session, p->chains, p->nchains, out, &type) == 0);
    open_peer(eio, &q, protocol, b64);
    room_eio_recv_payload(eio, q.session, room_buf_data(out), room_buf_len(out),
                          strcmp(type, "application/octet-stream") == 0, 0);
    FUZZ_CHECK(strcmp(q.reason, "invalid payload") != 0);
    room_eio_close(eio, q.session, "end");
    release(&q);
    room_buf_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_alloc counts = {0, 0};
    room_eio *eio;
    peer p;
    uint8_t flags;
    int mode, protocol;

    if (size < 1)
        return 0;
    flags = data[0];
    mode = flags & 3;
    protocol = mode ? 3 : 4;
    fuzz_random_reset();
    messages = 0;
    eio = make_eio(&counts, flags & 4);
    open_peer(eio, &p, protocol, mode == 3);
    post(eio, &p, data + 1, size - 1, mode == 2);
    if (flags & 8)
        post(eio, &p, data + 1, size - 1, mode == 2);
    round_trip(eio, &p, protocol, mode == 3);
    room_eio_tick(eio, 100000);
    FUZZ_CHECK(room_eio_session_count(eio) == 1);
    room_eio_close(eio, p.session, "end");
    release(&p);
    FUZZ_CHECK(room_eio_session_count(eio) == 0);
    FUZZ_CHECK(room_conn_count(room_eio_hub(eio, "/")) == 0);
    room_eio_free(eio);
    FUZZ_CHECK(counts.bytes == 0 && counts.blocks == 0);
    return 0;
}
