/* table.c: directly, with hashes chosen to collide (equal hashes, probe
 * runs that wrap around the end), against a reference model; and through
 * the hub, with many rooms created and freed. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/core/internal.h"
#include "test_util.h"

/* A test item: the table reads its hash and key where a room or a
 * connection keeps them. */
typedef struct item {
    uint32_t hash;
    char key[8];
} item;

static void init(rm_table *t)
{
    rm_table_init(t, offsetof(item, key), offsetof(item, hash));
}

static void put(rm_table *t, rm_alloc *a, uint32_t hash, item *it)
{
    it->hash = hash;
    assert_int_equal(rm_table_reserve(t, a), 0);
    rm_table_put(t, it);
}

/* Equal hashes and a run that wraps from the last slot to the first:
 * deleting from it moves exactly the items whose home allows it. */
static void collisions_and_wrap_around(void **state)
{
    static item A = {0, "a"}, B = {0, "b"}, C = {0, "c"}, D = {0, "d"}, E = {0, "e"};
    rm_alloc alloc;
    rm_table t;
    (void)state;
    rm_alloc_init(&alloc, NULL);
    init(&t);
    put(&t, &alloc, 14, &A); /* slot 14 */
    put(&t, &alloc, 14, &B); /* 15 */
    put(&t, &alloc, 0, &C);  /* 0 */
    put(&t, &alloc, 14, &D); /* 14, 15, 0 taken: 1 */
    put(&t, &alloc, 1, &E);  /* 1 taken: 2 */
    assert_int_equal(t.cap, 16);
    assert_ptr_equal(t.slots[14], &A);
    assert_ptr_equal(t.slots[15], &B);
    assert_ptr_equal(t.slots[0], &C);
    assert_ptr_equal(t.slots[1], &D);
    assert_ptr_equal(t.slots[2], &E);

    /* B leaves: C stays home; D (home 14) moves back into the hole across
     * the wrap; E (home 1) follows into D's slot. */
    rm_table_del(&t, &B);
    assert_int_equal(t.count, 4);
    assert_ptr_equal(t.slots[14], &A);
    assert_ptr_equal(t.slots[15], &D);
    assert_ptr_equal(t.slots[0], &C);
    assert_ptr_equal(t.slots[1], &E);
    assert_null(t.slots[2]);
    assert_null(rm_table_get(&t, 14, "b"));
    assert_ptr_equal(rm_table_get(&t, 14, "d"), &D);
    assert_ptr_equal(rm_table_get(&t, 1, "e"), &E);
    /* Same hash, other key: not found. */
    assert_null(rm_table_get(&t, 14, "c"));

    /* Deleting what is not there changes nothing. */
    rm_table_del(&t, &B);
    assert_int_equal(t.count, 4);
    rm_table_del(&t, &A);
    rm_table_del(&t, &D);
    rm_table_del(&t, &C);
    rm_table_del(&t, &E);
    assert_int_equal(t.count, 0);
    for (uint32_t i = 0; i < t.cap; i++)
        assert_null(t.slots[i]);

    /* Items whose home lies after the hole stay put, across the wrap too:
     * F at its home 14; G, H, I home 15 at 15, 0, 1. */
    static item F = {0, "f"}, G = {0, "g"}, H = {0, "h"}, I = {0, "i"};
    put(&t, &alloc, 14, &F);
    put(&t, &alloc, 15, &G);
    put(&t, &alloc, 15, &H);
    put(&t, &alloc, 15, &I);
    rm_table_del(&t, &F);
    assert_null(t.slots[14]);
    assert_ptr_equal(t.slots[15], &G);
    assert_ptr_equal(t.slots[0], &H);
    assert_ptr_equal(t.slots[1], &I);
    assert_ptr_equal(rm_table_get(&t, 15, "h"), &H);
    assert_ptr_equal(rm_table_get(&t, 15, "i"), &I);
    rm_table_release(&t, &alloc);
    assert_int_equal(alloc.bytes, 0);
}

/* Growing rehashes a table full of one hash. */
static void growth_with_one_hash(void **state)
{
    enum { N = 40 };
    item items[N];
    rm_alloc alloc;
    rm_table t;
    (void)state;
    rm_alloc_init(&alloc, NULL);
    init(&t);
    for (int i = 0; i < N; i++) {
        snprintf(items[i].key, sizeof items[i].key, "k%d", i);
        put(&t, &alloc, 0x7fffffffu, &items[i]);
    }
    assert_int_equal(t.cap, 64);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(rm_table_get(&t, 0x7fffffffu, items[i].key), &items[i]);
    for (int i = 0; i < N; i += 2)
        rm_table_del(&t, &items[i]);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(rm_table_get(&t, 0x7fffffffu, items[i].key), i % 2 ? &items[i] : NULL);
    rm_table_release(&t, &alloc);
}

/* Random inserts and deletes over four hashes around the table's end,
 * checked against a plain array after every step. */
static void against_a_model(void **state)
{
    enum { KEYS = 64, STEPS = 20000 };
    /* The last two slots and the first two, whatever the capacity. */
    static const uint32_t hashes[] = {UINT32_MAX, UINT32_MAX - 1, 0, 1};
    item items[KEYS];
    bool in[KEYS] = {false};
    uint64_t rng = 1;
    rm_alloc alloc;
    rm_table t;
    (void)state;
    rm_alloc_init(&alloc, NULL);
    init(&t);
    for (int i = 0; i < KEYS; i++) {
        snprintf(items[i].key, sizeof items[i].key, "k%d", i);
        items[i].hash = hashes[i % 4];
    }
    for (int step = 0; step < STEPS; step++) {
        int k;
        uint32_t count = 0;
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        k = (int)(rng % KEYS);
        if (in[k])
            rm_table_del(&t, &items[k]);
        else
            put(&t, &alloc, hashes[k % 4], &items[k]);
        in[k] = !in[k];
        for (int i = 0; i < KEYS; i++) {
            if (rm_table_get(&t, hashes[i % 4], items[i].key) != (in[i] ? &items[i] : NULL))
                fail_msg("step %d: key %d is %s the table", step, i, in[i] ? "missing from" : "still in");
            count += in[i];
        }
        assert_int_equal(t.count, count);
    }
    rm_table_release(&t, &alloc);
}

static void grow_and_delete(void **state)
{
    enum { N = 5000 };
    fake_net net = {0};
    room_conn *c;
    char name[32];
    (void)state;
    assert_non_null(fake_hub(&net, 0));
    room_config cfg;
    room_config_init(&cfg);
    fake_config(&cfg, &net);
    cfg.max_rooms_per_conn = N;
    room_hub_free(net.hub);
    assert_int_equal(room_hub_new(&net.hub, &cfg), 0);
    assert_int_equal(room_conn_open(net.hub, NULL, &c), 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "room-%d", i);
        assert_int_equal(room_join(net.hub, c, name), 0);
    }
    assert_int_equal(room_count(net.hub), N);
    for (int i = 0; i < N; i += 3) {
        snprintf(name, sizeof name, "room-%d", i);
        assert_int_equal(room_leave(net.hub, c, name), 0);
    }
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "room-%d", i);
        assert_int_equal(room_is_member(net.hub, c, name), i % 3 != 0);
    }
    room_conn_close(net.hub, c, NULL);
    assert_int_equal(room_count(net.hub), 0);
    room_hub_free(net.hub);
    assert_int_equal(net.alloc.allocs, net.alloc.frees);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(collisions_and_wrap_around),
        cmocka_unit_test(growth_with_one_hash),
        cmocka_unit_test(against_a_model),
        cmocka_unit_test(grow_and_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
