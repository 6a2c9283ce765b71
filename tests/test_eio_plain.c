/* Plain Engine.IO (config.message set): every message goes to the host,
 * which sends its own with room_eio_session_send(); no Socket.IO packet is
 * parsed and no namespace hub sees a session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio_fake.h"
#include "test_util.h"

static struct {
    char log[1024]; /* "open;", "t:<text>;", "b:<len>;", "close:<reason>;" */
    int echo;       /* send every message back */
    int shut;       /* shut the session on its next message */
} seen;

static void append(const char *text)
{
    size_t used = strlen(seen.log);
    snprintf(seen.log + used, sizeof seen.log - used, "%s", text);
}

static void on_message(room_eio *eio, room_eio_session *s, int kind, const void *bytes, size_t len,
                       void *ud)
{
    char text[160];
    (void)ud;
    if (kind == ROOM_FRAME_TEXT)
        snprintf(text, sizeof text, "t:%.*s;", (int)len, (const char *)bytes);
    else
        snprintf(text, sizeof text, "b:%zu;", len);
    append(text);
    if (seen.echo)
        room_eio_session_send(eio, s, kind, bytes, len);
    if (seen.shut)
        room_eio_session_shut(eio, s, "done");
}

static void on_open(room_eio *eio, room_eio_session *s, void *ud)
{
    (void)eio;
    (void)s;
    (void)ud;
    append("open;");
}

static void on_close(room_eio *eio, room_eio_session *s, const char *reason, void *ud)
{
    char text[160];
    (void)eio;
    (void)s;
    (void)ud;
    snprintf(text, sizeof text, "close:%s;", reason);
    append(text);
}

static int setup(void **state)
{
    eio_world *w = malloc(sizeof *w);
    eio_world_config(w);
    w->cfg.message = on_message;
    w->cfg.session_open = on_open;
    w->cfg.session_close = on_close;
    w->cfg.allow_eio3 = true;
    memset(&seen, 0, sizeof seen);
    *state = w;
    return 0;
}

static int setup_started(void **state)
{
    setup(state);
    eio_world_start(*state);
    return 0;
}

static int teardown(void **state)
{
    eio_world *w = *state;
    if (w->eio)
        eio_world_end(w);
    free(w);
    return 0;
}

static void hands_messages_to_the_host(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_WEBSOCKET, 4);
    room_hub *root = room_eio_hub(w->eio, "/");

    assert_string_equal(seen.log, "open;");
    /* No CONNECT is owed, and none is parsed: "40" is a message "0". */
    assert_int_equal(eio_in(w, p, "40"), 0);
    assert_int_equal(eio_in(w, p, "4hello"), 0);
    assert_int_equal(eio_in(w, p, "4"), 0);
    assert_int_equal(eio_in_bin(w, p, "\x01\x02", 2), 0);
    assert_string_equal(seen.log, "open;t:0;t:hello;t:;b:2;");
    assert_int_equal(room_conn_count(root), 0);
    assert_int_equal(p->n, 1);
    /* Engine.IO's own packets are still Engine.IO's. */
    room_eio_tick(w->eio, 1000);
    assert_string_equal(eio_last(p), "2");
    w->now = 1000;
    assert_int_equal(eio_in(w, p, "3"), 0);
    assert_int_equal(eio_in(w, p, "6"), 0);
    /* No connect timeout. */
    assert_int_equal(room_eio_tick(w->eio, 1000), 1000);
    room_eio_tick(w->eio, 1999);
    assert_int_equal(eio_in(w, p, "3"), 0);
    assert_int_equal(p->closes, 0);
    assert_int_equal(eio_in(w, p, "5"), ROOM_EPROTO);
    assert_int_equal(p->closes, 1);
    eio_close(w, p, "gone");
    assert_string_equal(seen.log + strlen(seen.log) - 11, "close:gone;");
}

static void sends_the_hosts_messages(void **state)
{
    eio_world *w = *state;
    eio_peer *ws = eio_open(w, ROOM_EIO_WEBSOCKET, 4), *poll = eio_open(w, ROOM_EIO_POLLING, 4);
    eio_peer *v3 = eio_open(w, ROOM_EIO_WEBSOCKET, 3);
    const char *type;
    size_t len;
    char *body;

    seen.echo = 1;
    assert_int_equal(eio_in(w, ws, "4hi"), 0);
    assert_string_equal(eio_last(ws), "4hi");
    assert_int_equal(eio_in_bin(w, ws, "\x00\x01", 2), 0);
    assert_int_equal(ws->kinds[ws->n - 1], ROOM_FRAME_BINARY);
    assert_memory_equal(eio_last(ws), "\x00\x01", 2);

    /* Over polling, echoed into the next poll response. */
    free(eio_poll(poll, &len, &type));
    assert_int_equal(eio_post(w, poll, "4a\x1e" "bAQI=\x1e" "4b"), 0);
    body = eio_poll(poll, &len, &type);
    assert_string_equal(body, "4a\x1e" "bAQI=\x1e" "4b");
    free(body);

    /* v3 binary carries its type byte on the WebSocket. */
    assert_int_equal(eio_in_bin(w, v3, "\x04\x09", 2), 0);
    assert_int_equal(v3->lens[v3->n - 1], 2);
    assert_memory_equal(eio_last(v3), "\x04\x09", 2);
    assert_int_equal(eio_in(w, v3, "2"), 0);
    assert_string_equal(eio_last(v3), "3");

    /* Bad arguments, closing sessions, failing sends. */
    seen.echo = 0;
    assert_int_equal(room_eio_session_send(w->eio, ws->s, 3, "x", 1), ROOM_EINVAL);
    assert_int_equal(room_eio_session_send(w->eio, ws->s, ROOM_FRAME_TEXT, NULL, 1), ROOM_EINVAL);
    assert_int_equal(room_eio_session_send(NULL, ws->s, ROOM_FRAME_TEXT, "x", 1), ROOM_EINVAL);
    assert_int_equal(room_eio_session_send(w->eio, ws->s, ROOM_FRAME_TEXT, NULL, 0), 0);
    assert_string_equal(eio_last(ws), "4");
    ws->fail_sends = 1;
    assert_int_equal(room_eio_session_send(w->eio, ws->s, ROOM_FRAME_TEXT, "x", 1), ROOM_ETRANSPORT);
    assert_int_equal(ws->closes, 1);
    assert_int_equal(room_eio_session_send(w->eio, ws->s, ROOM_FRAME_TEXT, "x", 1), ROOM_ECLOSED);
}

static void shuts_sessions(void **state)
{
    eio_world *w = *state;
    eio_peer *p = eio_open(w, ROOM_EIO_POLLING, 4);

    seen.shut = 1;
    assert_int_equal(eio_post(w, p, "4a\x1e" "4b"), 0);
    /* Shut from the handler: what followed in the payload is dropped. */
    assert_string_equal(seen.log, "open;t:a;");
    assert_int_equal(p->closes, 1);
    assert_int_equal(p->close_code, ROOM_CLOSE_NORMAL);
    assert_string_equal(p->reason, "done");
    room_eio_session_shut(w->eio, p->s, "again");
    room_eio_session_shut(w->eio, NULL, "again");
    room_eio_session_shut(NULL, p->s, "again");
    assert_int_equal(p->closes, 1);
    eio_close(w, p, "closed");
    assert_string_equal(seen.log, "open;t:a;close:closed;");
}

/* A Socket.IO room_eio has no plain sends; room_eio_free() calls no
 * session_close. */
static void is_plain_only_when_configured(void **state)
{
    eio_world *w = *state;
    eio_peer *p;

    w->cfg.message = NULL;
    eio_world_start(w);
    p = eio_open(w, ROOM_EIO_WEBSOCKET, 4);
    assert_int_equal(room_eio_session_send(w->eio, p->s, ROOM_FRAME_TEXT, "x", 1), ROOM_EINVAL);
    /* Shut works on any session. */
    room_eio_session_shut(w->eio, p->s, NULL);
    assert_string_equal(p->reason, "server close");
    eio_world_end(w);
    assert_string_equal(seen.log, "");

    eio_world_config(w);
    w->cfg.message = on_message;
    w->cfg.session_close = on_close;
    eio_world_start(w);
    p = eio_open(w, ROOM_EIO_WEBSOCKET, 4);
    /* Left to room_eio_free(). */
    p->closed = true;
    eio_world_end(w);
    assert_string_equal(seen.log, "");
}

static void survives_every_allocation_failure(void **state)
{
    eio_world *w = *state;
    size_t n;
    for (n = 1;; n++) {
        eio_peer *p;
        eio_world_config(w);
        w->cfg.message = on_message;
        w->cfg.allow_eio3 = true;
        w->alloc.fail_at = n;
        seen.echo = 1;
        if (room_eio_new(&w->eio, &w->cfg, &w->root) == 0) {
            for (int i = 0; i < 2; i++) {
                p = eio_peer_new(w);
                if (eio_accept(w, p, ROOM_EIO_POLLING, 3 + i, NULL, NULL) != 0)
                    continue;
                eio_post(w, p, i ? "4a\x1e" "bAQI=" : "2:4a6:b4AQI=");
                eio_in_bin(w, p, "\x04\x05", 2);
            }
            eio_world_end(w);
        }
        if (!w->alloc.failures)
            break;
    }
    assert_true(n > 5);
}

int main(void)
{
#define FRESH(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
#define STARTED(t) cmocka_unit_test_setup_teardown(t, setup_started, teardown)
    const struct CMUnitTest tests[] = {
        STARTED(hands_messages_to_the_host),
        STARTED(sends_the_hosts_messages),
        STARTED(shuts_sessions),
        FRESH(is_plain_only_when_configured),
        FRESH(survives_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
