/* hub.c, error.c, version.c: lifecycle, configuration, errors. */
#include <string.h>

#include "test_util.h"

static int null_send(void *t, room_frame *f, void *ud)
{
    (void)t, (void)f, (void)ud;
    return 0;
}

static void hub_new_validates_config(void **state)
{
    room_config cfg;
    room_hub *hub = (room_hub *)1;
    (void)state;
    room_config_init(&cfg);
    assert_int_equal(room_hub_new(&hub, &cfg), ROOM_EINVAL); /* no send callback */
    assert_null(hub);
    cfg.send = null_send;
    cfg.size = ROOM_CONFIG_SIZE_MIN - 1;
    assert_int_equal(room_hub_new(&hub, &cfg), ROOM_EINVAL);
    cfg.size = sizeof cfg;
    cfg.unknown_events = 2;
    assert_int_equal(room_hub_new(&hub, &cfg), ROOM_EINVAL);
    cfg.unknown_events = ROOM_UNKNOWN_IGNORE;
    cfg.seal_headroom = 33;
    assert_int_equal(room_hub_new(&hub, &cfg), ROOM_EINVAL);
    cfg.seal_headroom = 0;
    assert_int_equal(room_hub_new(NULL, &cfg), ROOM_EINVAL);
    assert_int_equal(room_hub_new(&hub, NULL), ROOM_EINVAL);
    assert_int_equal(room_hub_new(&hub, &cfg), 0);
    assert_non_null(hub);
    assert_int_equal(room_conn_count(hub), 0);
    assert_int_equal(room_count(hub), 0);
    room_hub_free(hub);
    room_hub_free(NULL);
}

/* room_config_init() leaves every limit 0; the hub turns 0 into the
 * documented defaults, as seen from outside. */
static void defaults_are_documented_values(void **state)
{
    room_config cfg;
    room_hub *hub;
    room_conn *c;
    char name[160];
    (void)state;
    room_config_init(&cfg);
    assert_int_equal(cfg.size, sizeof cfg);
    assert_int_equal(cfg.max_message_bytes, 0);
    cfg.send = null_send;
    assert_int_equal(room_hub_new(&hub, &cfg), 0);
    assert_int_equal(room_hub_max_message_bytes(hub), 1000000);
    assert_int_equal(room_hub_max_message_bytes(NULL), 0);
    assert_int_equal(room_conn_open(hub, NULL, &c), 0);
    memset(name, 'n', sizeof name);
    name[129] = '\0';
    assert_int_equal(room_join(hub, c, name), ROOM_ENAME);
    name[128] = '\0';
    assert_int_equal(room_join(hub, c, name), 0);
    for (int i = 1; i < 128; i++) {
        snprintf(name, sizeof name, "r%d", i);
        assert_int_equal(room_join(hub, c, name), 0);
    }
    assert_int_equal(room_join(hub, c, "one too many"), ROOM_ELIMIT);
    room_conn_close(hub, c, NULL);
    room_hub_free(hub);

    cfg.max_message_bytes = 10;
    assert_int_equal(room_hub_new(&hub, &cfg), 0);
    assert_int_equal(room_hub_max_message_bytes(hub), 10);
    room_hub_free(hub);
}

static void strerror_never_null(void **state)
{
    (void)state;
    for (int code = 5; code >= ROOM_ERROR_MIN - 5; code--) {
        assert_non_null(room_strerror(code));
        assert_non_null(room_error_name(code));
        assert_true(strlen(room_strerror(code)) > 0);
    }
    assert_string_equal(room_error_name(ROOM_ENOTMEMBER), "not_member");
    assert_string_equal(room_error_name(ROOM_EJSON), "bad_json");
    assert_string_equal(room_strerror(1234), "unknown error");
}

static void version_matches_macros(void **state)
{
    char expect[32];
    (void)state;
    snprintf(expect, sizeof expect, "%d.%d.%d", ROOM_VERSION_MAJOR, ROOM_VERSION_MINOR,
             ROOM_VERSION_PATCH);
    assert_string_equal(room_version(), expect);
    assert_string_equal(room_version(), ROOM_VERSION_STRING);
    assert_int_equal(room_version_num(), ROOM_VERSION_NUM);
}

static void memory_returns_to_zero(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    size_t base;
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    base = room_hub_memory(net.hub);
    assert_true(base > 0);
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(room_join(net.hub, a->conn, "r1"), 0);
    assert_int_equal(room_join(net.hub, b->conn, "r1"), 0);
    assert_true(room_hub_memory(net.hub) > base);
    fake_close(&net, a);
    fake_close(&net, b);
    assert_int_equal(room_count(net.hub), 0);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

static void free_with_live_connections(void **state)
{
    fake_net net = {0};
    fake_peer *p[3];
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    for (int i = 0; i < 3; i++) {
        p[i] = fake_open(&net);
        assert_int_equal(room_join(net.hub, p[i]->conn, "r"), 0);
    }
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
    for (int i = 0; i < 3; i++)
        fake_peer_free(p[i]);
}

static int refuse_b(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    int *n = ud;
    (void)ev;
    return (*n)++ == 1 ? room_refuse(hub, conn, "no", NULL) : 0;
}

/* The counters of room_hub_stats move with what the hub does. */
static void stats_count(void **state)
{
    fake_net net = {0};
    room_config cfg;
    room_hub_stats st;
    fake_peer *a, *b, *c;
    int opened = 0;
    (void)state;

    room_hub_stats_get(NULL, &st);
    assert_int_equal(st.messages_in + st.deliveries, 0);
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.rate_messages = 1;
    cfg.rate_messages_burst = 2;
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    assert_int_equal(room_on(net.hub, "connect", refuse_b, &opened), 0);
    a = fake_open(&net);
    b = calloc(1, sizeof *b);
    assert_int_equal(room_conn_open(net.hub, b, &b->conn), ROOM_EDENIED);
    free(b);
    c = fake_open(&net);
    assert_non_null(a);
    assert_non_null(c);
    assert_int_equal(room_join(net.hub, a->conn, "r"), 0);
    assert_int_equal(room_join(net.hub, c->conn, "r"), 0);
    assert_int_equal(room_send_new(net.hub, "r", "e", json_integer(1), NULL), 2);
    room_hub_stats_get(net.hub, &st);
    assert_int_equal(st.connects_refused, 1);
    assert_int_equal(st.messages_out, 1);
    assert_int_equal(st.deliveries, 2);
    assert_int_equal(st.messages_in, 0);
    /* Unknown events get an error answer each; the third is over the burst. */
    fake_recv(&net, a, "{\"event\":\"x\"}");
    fake_recv(&net, a, "{\"event\":\"x\"}");
    fake_recv(&net, a, "{\"event\":\"x\"}");
    room_hub_stats_get(net.hub, &st);
    assert_int_equal(st.messages_in, 3);
    assert_int_equal(st.rate_limited, 1);
    assert_int_equal(st.messages_out, 4);
    assert_int_equal(st.deliveries, 5);
    /* A host built with a shorter struct reads only what it knows. */
    memset(&st, 0xff, sizeof st);
    room_hub_stats_copy(net.hub, &st, offsetof(room_hub_stats, deliveries));
    assert_int_equal(st.messages_in, 3);
    assert_true(st.deliveries == UINT64_MAX); /* beyond its size: untouched */
    fake_close(&net, a);
    fake_close(&net, c);
    room_hub_free(net.hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hub_new_validates_config), cmocka_unit_test(defaults_are_documented_values),
        cmocka_unit_test(strerror_never_null),      cmocka_unit_test(version_matches_macros),
        cmocka_unit_test(memory_returns_to_zero),   cmocka_unit_test(free_with_live_connections),
        cmocka_unit_test(stats_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
