/* What other nodes (and any Redis client) publish: the input is one
 * message, read as a broadcast (msgpack [uid, packet, opts], with a count
 * tag as fourth element when counted), as a member count request, and as
 * a request or response (JSON, or msgpack; count answers among them).
 * Invariants: everything the decoders allocate comes back;
 * rr_msgpack_check() passes exactly what msgpack-c then unpacks whole; a
 * decoded broadcast, encoded again and decoded, is the same event,
 * arguments, attachments, rooms and except; a member count request and a
 * resume answer (recovery across nodes) too;
 * an input read as a history envelope (msgpack [offset, epoch, time,
 * pointer, record], the record a broadcast): its views lie inside the
 * input, its epoch is one, a stamp its pointer names has a pointer that
 * names it again. */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "../../lib/redis/internal.h"
#include "fuzz.h"

static void check_against_msgpack_c(const uint8_t *data, size_t size)
{
    msgpack_unpacked u;
    size_t off = 0;
    if (!rr_msgpack_check(data, size))
        return;
    msgpack_unpacked_init(&u);
    FUZZ_CHECK(msgpack_unpack_next(&u, (const char *)data, size, &off) == MSGPACK_UNPACK_SUCCESS);
    FUZZ_CHECK(off == size);
    msgpack_unpacked_destroy(&u);
}

static void round_trip(const room_allocator *a, const rr_broadcast *b)
{
    rr_out out;
    rr_broadcast again;
    size_t i;
    rr_out_init(&out, a);
    /* One room and one except at most go out (libroom publishes so). */
    if (rr_encode_broadcast(&out, b->uid, b->nsp, b->event, b->argv, b->argc, b->att, b->natt,
                            b->nrooms ? b->rooms[0] : NULL, b->nexcept ? b->except[0] : NULL) != 0) {
        rr_out_release(&out);
        return;
    }
    FUZZ_CHECK(rr_decode_broadcast(a, out.data, out.len, &again) == 0);
    FUZZ_CHECK(strcmp(again.uid, b->uid) == 0 && strcmp(again.nsp, b->nsp) == 0);
    FUZZ_CHECK(strcmp(again.event, b->event) == 0 && again.argc == b->argc);
    for (i = 0; i < b->argc; i++)
        FUZZ_CHECK(json_equal(again.argv[i], b->argv[i]));
    FUZZ_CHECK(again.natt == b->natt);
    for (i = 0; i < b->natt; i++)
        FUZZ_CHECK(again.att[i].len == b->att[i].len &&
                   (!b->att[i].len || memcmp(again.att[i].data, b->att[i].data, b->att[i].len) == 0));
    FUZZ_CHECK(again.nrooms == (b->nrooms ? 1u : 0u) && again.nexcept == (b->nexcept ? 1u : 0u));
    rr_broadcast_release(a, &again);
    rr_out_release(&out);
}

static void history(const room_allocator *a, const uint8_t *data, size_t size)
{
    rr_history_msg m;
    rr_broadcast b;
    json_t *stamp;
    char *again;
    bool nomem;
    if (rr_decode_history(data, size, &m) != 0)
        return;
    FUZZ_CHECK(m.epoch[0] && strlen(m.epoch) <= ROOM_EPOCH_MAX);
    FUZZ_CHECK(m.record >= data && m.record + m.record_len <= data + size);
    FUZZ_CHECK((const uint8_t *)m.pointer >= data &&
               (const uint8_t *)m.pointer + m.pointer_len <= data + size);
    FUZZ_CHECK(m.record_len ? m.offset > 0 : m.pointer_len == 0);
    if (!m.record_len || rr_decode_broadcast(a, m.record, m.record_len, &b) != 0)
        return;
    stamp = rr_pointer_resolve(b.argv, b.argc, m.pointer, m.pointer_len);
    if (stamp) {
        FUZZ_CHECK(json_is_object(stamp));
        again = rr_pointer_of(a, b.argv, b.argc, stamp, &nomem);
        /* The first path to it by identity: it names the same object. */
        FUZZ_CHECK(again || nomem);
        if (again) {
            FUZZ_CHECK(rr_pointer_resolve(b.argv, b.argc, again, strlen(again)) == stamp);
            rr_free(a, again);
        }
    }
    rr_broadcast_release(a, &b);
}

/* A member count request (lib/redis/count.c), encoded again. */
static void count_request(const room_allocator *a, const uint8_t *data, size_t size)
{
    rr_count_msg m, again;
    rr_out out;
    if (!rr_count_decode_request(data, size, &m))
        return;
    FUZZ_CHECK(m.type == RR_COUNT_MEMBERS && m.room && strlen(m.id) <= RR_COUNT_ID_MAX);
    rr_out_init(&out, a);
    if (rr_count_encode_request(&out, m.uid, m.room, m.id) == 0) {
        FUZZ_CHECK(rr_count_decode_request(out.data, out.len, &again));
        FUZZ_CHECK(strcmp(again.uid, m.uid) == 0 && strcmp(again.id, m.id) == 0 &&
                   strcmp(again.room, m.room) == 0);
        rr_count_msg_release(&again);
    }
    rr_out_release(&out);
    rr_count_msg_release(&m);
}

/* A decoded resume answer (lib/redis/resume.c), encoded again and
 * decoded, is the same answer. */
static void resume_round_trip(const room_allocator *a, const rr_resume_answer *r)
{
    room_resume_session s = {r->id, r->rooms, r->nrooms, r->ev, r->nevents};
    rr_resume_answer again;
    rr_out out;
    size_t i, k;
    FUZZ_CHECK(r->request_id && (!r->accepted || r->id));
    rr_out_init(&out, a);
    if (rr_encode_resume_answer(&out, "u", "/", r->request_id, r->accepted ? &s : NULL) != 0) {
        rr_out_release(&out);
        return;
    }
    FUZZ_CHECK(rr_decode_resume_answer(a, out.data, out.len, &again) == 0);
    FUZZ_CHECK(strcmp(again.request_id, r->request_id) == 0 && again.accepted == r->accepted);
    FUZZ_CHECK(again.nrooms == r->nrooms && again.nevents == r->nevents);
    for (i = 0; i < r->nrooms; i++)
        FUZZ_CHECK(strcmp(again.rooms[i], r->rooms[i]) == 0);
    for (i = 0; i < r->nevents; i++) {
        FUZZ_CHECK(strcmp(again.ev[i].event, r->ev[i].event) == 0 && again.ev[i].argc == r->ev[i].argc);
        for (k = 0; k < r->ev[i].argc; k++)
            FUZZ_CHECK(json_equal(again.ev[i].argv[k], r->ev[i].argv[k]));
        FUZZ_CHECK(again.ev[i].attachment_count == r->ev[i].attachment_count);
    }
    rr_resume_answer_release(a, &again);
    rr_out_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_alloc counts = {0};
    room_allocator a = fuzz_allocator(&counts);
    const char *rooms[RR_MAX_ROOMS];
    json_t *argv[RR_MAX_ARGS], *req;
    room_remote_op op;
    rr_broadcast b;
    rr_count_msg m;

    check_against_msgpack_c(data, size);
    if (rr_decode_broadcast(&a, data, size, &b) == 0) {
        FUZZ_CHECK(b.uid && b.nsp && b.event);
        round_trip(&a, &b);
        if (rr_count_tag(b.root, &m))
            FUZZ_CHECK(m.type == RR_COUNT_DELIVERIES && strlen(m.id) <= RR_COUNT_ID_MAX);
        rr_broadcast_release(&a, &b);
    }
    history(&a, data, size);
    FUZZ_CHECK(counts.bytes == 0 && counts.blocks == 0);
    count_request(&a, data, size);
    FUZZ_CHECK(counts.bytes == 0 && counts.blocks == 0);
    {
        rr_resume_answer r;
        if (rr_decode_resume_answer(&a, data, size, &r) == 0) {
            resume_round_trip(&a, &r);
            rr_resume_answer_release(&a, &r);
        }
        FUZZ_CHECK(counts.bytes == 0 && counts.blocks == 0);
    }
    if ((req = rr_decode_object(data, size)) != NULL) {
        if (rr_count_decode_answer(req, &m))
            FUZZ_CHECK(m.type == RR_COUNT_ANSWER && strlen(m.id) <= RR_COUNT_ID_MAX);
        if (rr_request_op(req, &op, rooms, argv) == 0) {
            FUZZ_CHECK(op.kind >= ROOM_REMOTE_JOIN && op.kind <= ROOM_REMOTE_MEMBERS_LEAVE);
            FUZZ_CHECK(op.nrooms <= RR_MAX_ROOMS && op.argc <= RR_MAX_ARGS);
        }
        json_decref(req);
    }
    return 0;
}
