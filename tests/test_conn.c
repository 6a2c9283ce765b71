/* conn.c: ids, lookup, kick and close. */
#include <string.h>

#include "test_util.h"

static void ids_are_unique_urlsafe_and_findable(void **state)
{
    fake_net net = {0};
    fake_peer *p[64];
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    for (int i = 0; i < 64; i++) {
        const char *id;
        p[i] = fake_open(&net);
        assert_non_null(p[i]);
        id = room_conn_id(p[i]->conn);
        assert_int_equal(strlen(id), 20);
        assert_int_equal(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 20);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(id, room_conn_id(p[k]->conn));
        assert_ptr_equal(room_conn_find(net.hub, id), p[i]->conn);
        assert_ptr_equal(room_conn_transport(p[i]->conn), p[i]);
    }
    assert_int_equal(room_conn_count(net.hub), 64);
    assert_null(room_conn_find(net.hub, "nope"));
    assert_null(room_conn_find(net.hub, NULL));
    for (int i = 0; i < 64; i += 2) {
        char id[21];
        strcpy(id, room_conn_id(p[i]->conn));
        fake_close(&net, p[i]);
        assert_null(room_conn_find(net.hub, id));
    }
    for (int i = 1; i < 64; i += 2)
        assert_ptr_equal(room_conn_find(net.hub, room_conn_id(p[i]->conn)), p[i]->conn);
    assert_int_equal(room_conn_count(net.hub), 32);
    for (int i = 1; i < 64; i += 2)
        fake_close(&net, p[i]);
    room_hub_free(net.hub);
}

static int fixed_random(void *buf, size_t len, void *ud)
{
    (void)ud;
    memset(buf, 0xab, len);
    return 0;
}

static void random_source_is_used(void **state)
{
    fake_net net = {0};
    room_config cfg;
    room_conn *c;
    (void)state;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.random = fixed_random;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    assert_int_equal(room_conn_open(net.hub, NULL, &c), 0);
    assert_string_equal(room_conn_id(c), "q6urq6urq6urq6urq6ur");
    room_conn_close(net.hub, c, NULL);
    room_hub_free(net.hub);
}

static void user_data_round_trips(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    int x;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    p = fake_open(&net);
    assert_null(room_conn_data(p->conn));
    room_conn_set_data(p->conn, &x);
    assert_ptr_equal(room_conn_data(p->conn), &x);
    fake_close(&net, p);
    room_conn_close(net.hub, NULL, NULL);
    room_hub_free(net.hub);
}

static void kick_asks_host_once_and_stops_sends(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    p = fake_open(&net);
    room_conn_kick(net.hub, p->conn, 4000, "bye");
    room_conn_kick(net.hub, p->conn, 4001, "again");
    assert_int_equal(p->kicked, 1);
    assert_int_equal(p->close_code, 4000);
    assert_string_equal(p->close_reason, "bye");
    assert_int_equal(room_emit_new(net.hub, p->conn, "x", json_true()), ROOM_ECLOSED);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"join\",\"data\":\"r\"}"), ROOM_ECLOSED);
    assert_int_equal(p->nframes, 0);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

static int closer(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ev, (void)ud;
    room_conn_close(hub, conn, "from handler");
    return 0;
}

static void close_inside_handler_becomes_kick(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    assert_int_equal(room_on(net.hub, "bye", closer, NULL), 0);
    p = fake_open(&net);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"bye\"}"), 0);
    assert_int_equal(p->kicked, 1);
    assert_string_equal(p->close_reason, "from handler");
    assert_int_equal(room_conn_count(net.hub), 1);
    fake_close(&net, p);
    assert_int_equal(room_conn_count(net.hub), 0);
    room_hub_free(net.hub);
}

static room_conn *victim;
static int close_other(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)conn, (void)ev, (void)ud;
    room_conn_close(hub, victim, "closed by another");
    return 0;
}

/* The host still holds the other connection: it is kicked, not freed. */
static void close_of_another_inside_handler_becomes_kick(void **state)
{
    fake_net net = {0};
    fake_peer *p, *q;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    assert_int_equal(room_on(net.hub, "bye", close_other, NULL), 0);
    p = fake_open(&net);
    q = fake_open(&net);
    victim = q->conn;
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"bye\"}"), 0);
    assert_int_equal(q->kicked, 1);
    assert_string_equal(q->close_reason, "closed by another");
    assert_int_equal(room_conn_count(net.hub), 2);
    fake_close(&net, q);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

static int refuse_guests(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *auth = json_array_get(ev->args, 0);
    (void)ud;
    if (!json_is_object(auth) || !json_object_get(auth, "token")) {
        room_refuse(hub, conn, "token required", json_pack("{ss}", "why", "guest"));
        return ROOM_EDENIED;
    }
    return 0;
}

static void connect_handler_can_refuse(void **state)
{
    fake_net net = {0};
    room_conn *c = NULL;
    json_t *refusal = NULL, *auth;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    assert_int_equal(room_on(net.hub, "connect", refuse_guests, NULL), 0);
    assert_int_equal(room_conn_open_auth(net.hub, NULL, NULL, &c, &refusal), ROOM_EDENIED);
    assert_null(c);
    assert_string_equal(json_string_value(json_object_get(refusal, "msg")), "token required");
    assert_string_equal(json_string_value(json_object_get(json_object_get(refusal, "data"), "why")), "guest");
    json_decref(refusal);
    assert_int_equal(room_conn_count(net.hub), 0);
    auth = json_pack("{ss}", "token", "t");
    assert_int_equal(room_conn_open_auth(net.hub, NULL, auth, &c, &refusal), 0);
    assert_null(refusal);
    json_decref(auth);
    assert_int_equal(room_conn_count(net.hub), 1);
    room_conn_close(net.hub, c, NULL);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

/* Refuses clients whose handshake has no Origin header. */
static int require_origin(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *hs = json_array_get(ev->args, 2);
    const char *origin = json_string_value(json_object_get(json_object_get(hs, "headers"), "origin"));
    (void)ud;
    assert_int_equal(json_array_size(ev->args), 3);
    if (!origin)
        return room_refuse(hub, conn, "origin required", NULL) ? ROOM_ENOMEM : ROOM_EDENIED;
    assert_string_equal(origin, "https://example.com");
    assert_string_equal(json_string_value(json_object_get(hs, "address")), "10.0.0.7");
    return 0;
}

/* room_conn_open_with() hands the handshake to the connect handler; a
 * too-small args struct is refused before anything is created. */
static void open_with_passes_the_handshake(void **state)
{
    fake_net net = {0};
    room_conn *c = NULL;
    room_open_args args;
    json_t *hs;
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    assert_int_equal(room_on(net.hub, "connect", require_origin, NULL), 0);
    room_open_args_init(&args);
    assert_int_equal(room_conn_open_with(net.hub, NULL, &args, &c, NULL), ROOM_EDENIED);
    assert_null(c);
    hs = json_pack("{s{ss}ss}", "headers", "origin", "https://example.com", "address", "10.0.0.7");
    args.handshake = hs;
    args.size = ROOM_OPEN_ARGS_MIN_SIZE - 1;
    assert_int_equal(room_conn_open_with(net.hub, NULL, &args, &c, NULL), ROOM_EINVAL);
    args.size = ROOM_OPEN_ARGS_MIN_SIZE;
    assert_int_equal(room_conn_open_with(net.hub, NULL, &args, &c, NULL), 0);
    assert_non_null(c);
    json_decref(hs);
    room_conn_close(net.hub, c, NULL);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ids_are_unique_urlsafe_and_findable),
        cmocka_unit_test(random_source_is_used),
        cmocka_unit_test(user_data_round_trips),
        cmocka_unit_test(kick_asks_host_once_and_stops_sends),
        cmocka_unit_test(close_inside_handler_becomes_kick),
        cmocka_unit_test(close_of_another_inside_handler_becomes_kick),
        cmocka_unit_test(connect_handler_can_refuse),
        cmocka_unit_test(open_with_passes_the_handshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
