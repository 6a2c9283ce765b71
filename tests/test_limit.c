/* limit.c: per-connection token buckets on messages and bytes, refilled by
 * the hub's time, the rate_limited answer and the kick. */
#include <string.h>

#include "test_util.h"

static int handled;

static int count(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)hub, (void)conn, (void)ev, (void)ud;
    handled++;
    return 0;
}

static room_hub *limited_hub(fake_net *net, uint32_t msgs, uint32_t msgs_burst, uint32_t bytes,
                             uint32_t bytes_burst, size_t max_message)
{
    room_config cfg;
    room_config_init(&cfg);
    fake_config(&cfg, net);
    cfg.rate_messages = msgs;
    cfg.rate_messages_burst = msgs_burst;
    cfg.rate_bytes = bytes;
    cfg.rate_bytes_burst = bytes_burst;
    cfg.max_message_bytes = max_message;
    if (room_hub_new(&net->hub, &cfg) != 0)
        return NULL;
    room_on(net->hub, "m", count, NULL);
    handled = 0;
    return net->hub;
}

/* A burst passes, the next message is dropped with rate_limited, time
 * refills: 10 per second is one every 100 ms. */
static void messages_per_second(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    int i;
    (void)state;
    room_hub_tick(limited_hub(&net, 10, 3, 0, 0, 0), 1000);
    p = fake_open(&net);
    for (i = 0; i < 3; i++)
        assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), 0);
    assert_int_equal(p->nframes, 0);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), ROOM_ERATELIMIT);
    assert_error_code(p, "rate_limited");
    assert_int_equal(handled, 3);
    room_hub_set_time(net.hub, 1099);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), ROOM_ERATELIMIT);
    room_hub_set_time(net.hub, 1100);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), 0);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), ROOM_ERATELIMIT);
    /* A long silence refills to the burst, not beyond. */
    room_hub_set_time(net.hub, 100000);
    for (i = 0; i < 3; i++)
        assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), 0);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), ROOM_ERATELIMIT);
    assert_int_equal(handled, 7);
    assert_int_equal(p->kicked, 0);
    /* Time never runs backwards for the hub. */
    room_hub_set_time(net.hub, 5);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), ROOM_ERATELIMIT);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

/* Bytes count whole messages, attachments included; each connection has
 * its own buckets. */
static void bytes_per_second(void **state)
{
    fake_net net = {0};
    fake_peer *a, *b;
    const char *msg = "{\"event\":\"m\",\"data\":\"0123456789\"}"; /* 33 bytes */
    (void)state;
    assert_non_null(limited_hub(&net, 0, 0, 100, 70, 64));
    a = fake_open(&net);
    b = fake_open(&net);
    assert_int_equal(fake_recv(&net, a, msg), 0);
    assert_int_equal(fake_recv(&net, a, msg), 0);
    assert_int_equal(fake_recv(&net, a, msg), ROOM_ERATELIMIT); /* 4 bytes left */
    assert_error_code(a, "rate_limited");
    assert_int_equal(fake_recv(&net, b, msg), 0);
    /* 100 bytes per second: 29 more bytes take 290 ms. */
    room_hub_set_time(net.hub, 289);
    assert_int_equal(fake_recv(&net, a, msg), ROOM_ERATELIMIT);
    room_hub_set_time(net.hub, 290);
    assert_int_equal(fake_recv(&net, a, msg), 0);
    assert_int_equal(handled, 4);
    fake_close(&net, a);
    fake_close(&net, b);
    room_hub_free(net.hub);
}

/* rate_kick_after refusals in a row kick with 1008; one message that
 * passes starts the count again. */
static void persistent_abuse_is_kicked(void **state)
{
    fake_net net = {0};
    fake_peer *p;
    int i;
    (void)state;
    assert_non_null(limited_hub(&net, 1, 1, 0, 0, 0));
    p = fake_open(&net);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), 0);
    for (i = 0; i < 9; i++)
        assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), ROOM_ERATELIMIT);
    room_hub_set_time(net.hub, 1000);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), 0);
    for (i = 0; i < 9; i++)
        assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), ROOM_ERATELIMIT);
    assert_int_equal(p->kicked, 0);
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), ROOM_ERATELIMIT);
    assert_int_equal(p->kicked, 1);
    assert_int_equal(p->close_code, ROOM_CLOSE_POLICY_VIOLATION);
    assert_string_equal(p->close_reason, "rate limit exceeded");
    assert_error_code(p, "rate_limited"); /* the answer went out before the kick */
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), ROOM_ECLOSED);
    assert_int_equal(handled, 2);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

/* Limits the hub checks, and what the buckets cost: 16 bytes per
 * connection with limits, nothing without. */
static void config_and_memory(void **state)
{
    fake_net net = {0};
    room_config cfg;
    room_hub *hub;
    fake_peer *p;
    size_t before, plain;
    (void)state;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.max_message_bytes = 1000;
    cfg.rate_bytes = 10;
    cfg.rate_bytes_burst = 999; /* a largest message could never pass */
    assert_int_equal(room_hub_new(&hub, &cfg), ROOM_EINVAL);
    cfg.rate_bytes_burst = 0;   /* the default: max_message_bytes */
    cfg.rate_messages_burst = 4000001;
    assert_int_equal(room_hub_new(&hub, &cfg), ROOM_EINVAL);

    assert_non_null(fake_hub(&net, 0));
    before = room_hub_memory(net.hub);
    p = fake_open(&net);
    plain = room_hub_memory(net.hub) - before;
    fake_close(&net, p);
    room_hub_free(net.hub);

    assert_non_null(limited_hub(&net, 0, 0, 10, 0, 1000));
    before = room_hub_memory(net.hub);
    p = fake_open(&net);
    assert_int_equal(room_hub_memory(net.hub) - before, plain + 16);
    /* The default byte burst lets one largest message through. */
    {
        char big[1001];
        memset(big, ' ', sizeof big - 1);
        memcpy(big, "{\"event\":\"m\"}", 13);
        big[1000] = 0;
        assert_int_equal(fake_recv(&net, p, big), 0);
        assert_int_equal(fake_recv(&net, p, "{\"event\":\"m\"}"), ROOM_ERATELIMIT);
    }
    fake_close(&net, p);
    room_hub_free(net.hub);
    assert_string_equal(room_error_name(ROOM_ERATELIMIT), "rate_limited");
    assert_string_equal(room_strerror(ROOM_ERATELIMIT), "sending faster than the rate limit allows");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(messages_per_second),
        cmocka_unit_test(bytes_per_second),
        cmocka_unit_test(persistent_abuse_is_kicked),
        cmocka_unit_test(config_and_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
