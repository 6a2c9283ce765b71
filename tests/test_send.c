/* send.c: fan-out encodes once and shares one frame among recipients. */
#include <string.h>

#include "test_util.h"

static room_frame *seen[16];
static int nseen;

static int capture_send(void *t, room_frame *f, void *ud)
{
    (void)t, (void)ud;
    seen[nseen++] = room_frame_ref(f);
    return 0;
}

static void broadcast_shares_one_frame(void **state)
{
    room_config cfg;
    room_hub *hub;
    room_conn *c[4];
    size_t len;
    (void)state;
    room_config_init(&cfg);
    cfg.send = capture_send;
    assert_int_equal(room_hub_new(&hub, &cfg), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(room_conn_open(hub, NULL, &c[i]), 0);
        assert_int_equal(room_join(hub, c[i], "r"), 0);
    }
    nseen = 0;
    assert_int_equal(room_send_new(hub, "r", "news", json_pack("{si}", "n", 1), NULL), 4);
    assert_int_equal(nseen, 4);
    for (int i = 1; i < 4; i++)
        assert_ptr_equal(seen[i], seen[0]); /* one frame, not four copies */
    {
        const uint8_t *bytes = room_frame_payload(seen[0], &len);
        assert_int_equal(len, strlen("{\"event\":\"news\",\"data\":{\"n\":1}}"));
        assert_memory_equal(bytes, "{\"event\":\"news\",\"data\":{\"n\":1}}", len);
    }
    for (int i = 0; i < 4; i++)
        room_frame_unref(seen[i]);

    nseen = 0;
    assert_int_equal(room_send_new(hub, "r", "news", json_true(), c[2]), 3);
    assert_int_equal(nseen, 3);
    for (int i = 0; i < 3; i++)
        room_frame_unref(seen[i]);
    nseen = 0;
    assert_int_equal(room_broadcast_new(hub, "all", json_null(), c[0]), 3);
    for (int i = 0; i < 3; i++)
        room_frame_unref(seen[i]);
    nseen = 0;
    assert_int_equal(room_send_new(hub, "empty-room", "x", json_true(), NULL), 0);
    assert_int_equal(nseen, 0);
    assert_int_equal(room_send_new(hub, "", "x", json_true(), NULL), ROOM_ENAME);
    assert_int_equal(room_send_new(hub, "r", "x", NULL, NULL), ROOM_ENOMEM);
    assert_int_equal(room_send(hub, NULL, "x", NULL, NULL), ROOM_ENAME);
    assert_int_equal(room_send(hub, "r", NULL, NULL, NULL), ROOM_EINVAL);
    for (int i = 0; i < 4; i++)
        room_conn_close(hub, c[i], NULL);
    room_hub_free(hub);
}

static void emit_reaches_one(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    json_t *d;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(room_emit_new(net.hub, a->conn, "hello", room_response_new("Hi", json_integer(5))), 0);
    assert_int_equal(a->nframes, 1);
    assert_int_equal(b->nframes, 0);
    d = fake_event_data(a, "hello");
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "Hi");
    assert_int_equal(json_integer_value(json_object_get(d, "data")), 5);
    json_decref(d);
    /* An event name that needs escaping stays valid JSON. */
    assert_int_equal(room_emit(net.hub, a->conn, "quote\"back\\slash\n", NULL), 0);
    d = fake_json(a, 1);
    assert_string_equal(json_string_value(json_object_get(d, "event")), "quote\"back\\slash\n");
    assert_null(json_object_get(d, "data"));
    json_decref(d);
    assert_int_equal(room_emit(net.hub, NULL, "x", NULL), ROOM_EINVAL);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

/* Several arguments: the room, the hub and one connection get the same
 * encoding, and argument errors are the caller's. */
static void multi_argument_sends(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    json_t *argv[3];
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    a = fake_open(&net);
    b = fake_open(&net);
    room_join(net.hub, a->conn, "r");
    argv[0] = json_integer(1);
    argv[1] = json_string("2");
    argv[2] = json_pack("{si}", "three", 3);
    assert_int_equal(room_send_args(net.hub, "r", "x", argv, 3, NULL, 0, NULL), 1);
    assert_string_equal(a->frames[0], "{\"event\":\"x\",\"data\":1,\"args\":[1,\"2\",{\"three\":3}]}");
    assert_int_equal(room_broadcast_args(net.hub, "y", argv, 2, NULL, 0, a->conn), 1);
    assert_string_equal(b->frames[0], "{\"event\":\"y\",\"data\":1,\"args\":[1,\"2\"]}");
    assert_int_equal(room_emit_args(net.hub, b->conn, "z", argv + 2, 1, NULL, 0), 0);
    assert_string_equal(b->frames[1], "{\"event\":\"z\",\"data\":{\"three\":3}}");
    /* No arguments at all; argv may then be NULL. */
    assert_int_equal(room_emit_args(net.hub, b->conn, "none", NULL, 0, NULL, 0), 0);
    assert_string_equal(b->frames[2], "{\"event\":\"none\"}");

    assert_int_equal(room_emit_args(net.hub, b->conn, "z", NULL, 1, NULL, 0), ROOM_EINVAL);
    assert_int_equal(room_send_args(net.hub, "r", "z", NULL, 2, NULL, 0, NULL), ROOM_EINVAL);
    assert_int_equal(room_broadcast_args(net.hub, "z", argv, 1, NULL, 1, NULL), ROOM_EINVAL);
    assert_int_equal(room_send_args(net.hub, NULL, "z", argv, 1, NULL, 0, NULL), ROOM_ENAME);
    json_decref(argv[1]);
    argv[1] = NULL;
    assert_int_equal(room_send_args(net.hub, "r", "z", argv, 3, NULL, 0, NULL), ROOM_EINVAL);
    assert_int_equal(b->nframes, 3);
    assert_int_equal(a->nframes, 1);
    json_decref(argv[0]);
    json_decref(argv[2]);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

static int ack_args_seen;
static void count_ack_args(room_hub *hub, room_conn *conn, int status, json_t *args, void *ud)
{
    (void)hub, (void)conn, (void)ud;
    ack_args_seen = status ? -1 : (int)json_array_size(args);
}

/* A server ack request with several arguments, answered with several. */
static void multi_argument_emit_ack(void **state)
{
    fake_net net = {0};
    fake_peer *a;
    json_t *argv[2];
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    a = fake_open(&net);
    argv[0] = json_true();
    argv[1] = json_null();
    assert_int_equal(room_emit_ack_args(net.hub, a->conn, "ask", argv, 2, NULL, 0, 1000,
                                        count_ack_args, NULL),
                     0);
    assert_string_equal(a->frames[0], "{\"event\":\"ask\",\"data\":true,\"args\":[true,null],\"id\":0}");
    assert_int_equal(room_emit_ack_args(net.hub, a->conn, "ask", argv, 1, NULL, 0, 1000, NULL, NULL),
                     ROOM_EINVAL);
    ack_args_seen = 0;
    assert_int_equal(fake_recv(&net, a, "{\"ack\":0,\"args\":[1,2,3]}"), 0);
    assert_int_equal(ack_args_seen, 3);
    fake_close(&net, a);
    room_hub_free(net.hub);
}

static void failed_send_kicks_connection(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    a = fake_open(&net);
    b = fake_open(&net);
    room_join(net.hub, a->conn, "r");
    room_join(net.hub, b->conn, "r");
    a->fail_sends = 1;
    assert_int_equal(room_send_new(net.hub, "r", "x", json_true(), NULL), 1);
    assert_int_equal(a->kicked, 1);
    assert_int_equal(a->close_code, 1011);
    assert_int_equal(b->nframes, 1);
    /* Kicked connections are skipped from then on. */
    assert_int_equal(room_send_new(net.hub, "r", "x", json_true(), NULL), 1);
    assert_int_equal(a->kicked, 1);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

static int closing_send(void *t, room_frame *f, void *ud)
{
    (void)t, (void)f, (void)ud;
    return ROOM_ECLOSED;
}

/* A transport whose connection is already closing says ROOM_ECLOSED: not a
 * delivery, and no reason to ask for a close. */
static void closing_transport_is_not_kicked(void **state)
{
    fake_net net = {0};
    room_config cfg;
    fake_peer *a;
    (void)state;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.send = closing_send;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    a = fake_open(&net);
    room_join(net.hub, a->conn, "r");
    assert_int_equal(room_send_new(net.hub, "r", "x", json_true(), NULL), 0);
    assert_int_equal(a->kicked, 0);
    fake_close(&net, a);
    room_hub_free(net.hub);
}

static void remote_frames_are_delivered_raw(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    a = fake_open(&net);
    b = fake_open(&net);
    room_join(net.hub, a->conn, "r");
    room_join(net.hub, b->conn, "r");
    assert_int_equal(room_hub_deliver_remote(net.hub, "r", ROOM_FRAME_TEXT, "raw", 3, room_conn_id(a->conn)), 1);
    assert_int_equal(a->nframes, 0);
    assert_string_equal(b->frames[0], "raw");
    assert_int_equal(room_hub_deliver_remote(net.hub, NULL, ROOM_FRAME_TEXT, "all", 3, NULL), 2);
    assert_int_equal(room_hub_deliver_remote(net.hub, "nobody", ROOM_FRAME_TEXT, "x", 1, NULL), 0);
    assert_int_equal(room_hub_deliver_remote(net.hub, "r", 9, "x", 1, NULL), ROOM_EINVAL);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broadcast_shares_one_frame),
        cmocka_unit_test(emit_reaches_one),
        cmocka_unit_test(multi_argument_sends),
        cmocka_unit_test(multi_argument_emit_ack),
        cmocka_unit_test(failed_send_kicks_connection),
        cmocka_unit_test(closing_transport_is_not_kicked),
        cmocka_unit_test(remote_frames_are_delivered_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
