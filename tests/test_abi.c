/* A program built against an older, smaller room_config (or codec, or
 * adapter table) keeps working with this library, which must neither read
 * nor write past the size the program declared. Each old struct sits at the
 * very end of a read-only page followed by an inaccessible one: any access
 * past it, or any write to it, faults. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_util.h"

/* room_config as first released: it ended at `adapter`. */
typedef struct old_config {
    size_t size;
    room_send_fn send;
    room_close_fn close;
    room_log_fn log;
    room_random_fn random;
    size_t (*seal)(const room_frame *frame, uint8_t *header, void *user_data);
    void *user_data;
    room_allocator allocator;
    size_t max_message_bytes;
    size_t max_room_name_bytes;
    size_t max_rooms_per_conn;
    size_t max_members_per_room;
    size_t max_rooms;
    size_t seal_headroom;
    const room_codec *codec;
    room_adapter *adapter;
} old_config;

/* The minimum is that layout, member for member. */
_Static_assert(sizeof(old_config) == ROOM_CONFIG_SIZE_MIN, "ROOM_CONFIG_SIZE_MIN");
_Static_assert(offsetof(old_config, adapter) == offsetof(room_config, adapter), "config layout");
_Static_assert(offsetof(old_config, max_message_bytes) == offsetof(room_config, max_message_bytes),
               "config layout");

typedef struct guarded {
    uint8_t *pages;
    size_t page;
} guarded;

/* `size` bytes ending exactly at a page boundary, followed by PROT_NONE. */
static void *guard(guarded *g, const void *src, size_t size)
{
    g->page = (size_t)sysconf(_SC_PAGESIZE);
    g->pages = mmap(NULL, 2 * g->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g->pages != MAP_FAILED);
    assert_int_equal(mprotect(g->pages + g->page, g->page, PROT_NONE), 0);
    memcpy(g->pages + g->page - size, src, size);
    /* Read-only from here on: the library may only read it. */
    assert_int_equal(mprotect(g->pages, g->page, PROT_READ), 0);
    return g->pages + g->page - size;
}

static void unguard(guarded *g)
{
    munmap(g->pages, 2 * g->page);
}

static int sent;
static int count_send(void *t, room_frame *f, void *ud)
{
    (void)t, (void)f, (void)ud;
    sent++;
    return 0;
}

static int visits;
static int count_visit(room_conn *conn, void *ud)
{
    (void)conn, (void)ud;
    visits++;
    return 0;
}

/* An old program's config: accepted, and the fields it lacks (here
 * unknown_events) take their defaults. */
static void old_config_is_read_within_its_size(void **state)
{
    old_config old;
    guarded g;
    room_hub *hub;
    room_conn *c;
    (void)state;
    memset(&old, 0, sizeof old);
    old.size = sizeof old;
    old.send = count_send;
    old.max_message_bytes = 100;
    assert_int_equal(room_hub_new(&hub, guard(&g, &old, sizeof old)), 0);
    assert_int_equal(room_hub_max_message_bytes(hub), 100);
    assert_int_equal(room_conn_open(hub, NULL, &c), 0);
    sent = 0;
    assert_int_equal(room_conn_recv(hub, c, "{\"event\":\"nobody\"}", 18), ROOM_EUNKNOWN);
    assert_int_equal(sent, 1); /* the default: an error reply */
    room_conn_close(hub, c, NULL);
    room_hub_free(hub);
    unguard(&g);

    /* One byte short of the minimum is refused without reading on. */
    old.size = sizeof old - 1;
    assert_int_equal(room_hub_new(&hub, guard(&g, &old, sizeof old)), ROOM_EINVAL);
    unguard(&g);
}

/* A newer program's config, larger than this library's, is accepted too. */
static void newer_config_is_accepted(void **state)
{
    struct {
        room_config cfg;
        int later_field;
    } newer;
    guarded g;
    room_hub *hub;
    (void)state;
    memset(&newer, 0, sizeof newer);
    room_config_init(&newer.cfg);
    newer.cfg.size = sizeof newer;
    newer.cfg.send = count_send;
    newer.later_field = 7;
    assert_int_equal(room_hub_new(&hub, guard(&g, &newer, sizeof newer)), 0);
    room_hub_free(hub);
    unguard(&g);
}

/* Codec and adapter tables of the minimum size, at the end of a page. */
static void minimum_codec_and_adapter(void **state)
{
    room_codec codec = *room_codec_json();
    room_adapter adapter = *room_adapter_local();
    guarded gc, ga, gcfg;
    room_config cfg;
    room_hub *hub;
    room_conn *c;
    (void)state;
    codec.size = ROOM_CODEC_SIZE_MIN;
    adapter.size = ROOM_ADAPTER_SIZE_MIN;
    room_config_init(&cfg);
    cfg.send = count_send;
    cfg.codec = guard(&gc, &codec, ROOM_CODEC_SIZE_MIN);
    cfg.adapter = guard(&ga, &adapter, ROOM_ADAPTER_SIZE_MIN);
    assert_int_equal(room_hub_new(&hub, guard(&gcfg, &cfg, sizeof cfg)), 0);
    assert_int_equal(room_conn_open(hub, NULL, &c), 0);
    assert_int_equal(room_join(hub, c, "r"), 0);
    sent = 0;
    assert_int_equal(room_send_new(hub, "r", "x", json_true(), NULL), 1);
    assert_int_equal(room_conn_recv(hub, c, "{\"event\":\"y\"}", 13), ROOM_EUNKNOWN);
    assert_int_equal(sent, 2);
    visits = 0;
    assert_int_equal(room_conns_foreach(hub, count_visit, NULL), 0);
    assert_int_equal(visits, 1);
    room_conn_close(hub, c, NULL);
    room_hub_free(hub);
    unguard(&gcfg);

    codec.size = ROOM_CODEC_SIZE_MIN - 1;
    cfg.codec = &codec;
    cfg.adapter = NULL;
    assert_int_equal(room_hub_new(&hub, &cfg), ROOM_EINVAL);
    cfg.codec = NULL;
    adapter.size = ROOM_ADAPTER_SIZE_MIN - 1;
    cfg.adapter = &adapter;
    assert_int_equal(room_hub_new(&hub, &cfg), ROOM_EINVAL);
    unguard(&gc);
    unguard(&ga);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(old_config_is_read_within_its_size),
        cmocka_unit_test(newer_config_is_accepted),
        cmocka_unit_test(minimum_codec_and_adapter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
