/* roomd's room storage messages between nodes (lib/redis/storage.c): the
 * input is one message, read as an update, relay, fetch or log answer, and
 * its bytes as a log answer's entries. Invariants: the decoder allocates
 * nothing and reads only the input; a decoded message, encoded again, is
 * the same bytes, and decodes to the same message; the entries of a log
 * answer lie inside it and cover it exactly when the reader says so. */
#include <stdlib.h>
#include <string.h>

#include "../../lib/redis/internal.h"
#include "fuzz.h"

static void round_trip(const rr_smsg *m, const uint8_t *data, size_t size)
{
    fuzz_alloc counts = {0};
    room_allocator a = fuzz_allocator(&counts);
    rr_out out;
    rr_smsg again;
    rr_out_init(&out, &a);
    FUZZ_CHECK(rr_encode_storage(&out, m) == 0);
    FUZZ_CHECK(rr_decode_storage(out.data, out.len, &again) == 0);
    FUZZ_CHECK(again.type == m->type && again.seq == m->seq && again.flags == m->flags);
    FUZZ_CHECK(strcmp(again.uid, m->uid) == 0 && strcmp(again.room, m->room) == 0 &&
               strcmp(again.id, m->id) == 0);
    FUZZ_CHECK(again.len == m->len && (!m->len || memcmp(again.data, m->data, m->len) == 0));
    /* Ours is the smallest encoding; an input that decodes may use longer
     * ones (str8 for a short string), never shorter. */
    FUZZ_CHECK(out.len <= size);
    if (out.len == size)
        FUZZ_CHECK(memcmp(out.data, data, size) == 0);
    rr_out_release(&out);
    FUZZ_CHECK(counts.bytes == 0 && counts.blocks == 0);
}

static void entries(const uint8_t *data, size_t size)
{
    const uint8_t *e;
    size_t pos = 0, n, covered = 0;
    int rc;
    while ((rc = rr_log_next(data, size, &pos, &e, &n)) == 1) {
        FUZZ_CHECK(e >= data + 4 && e + n <= data + size && e + n == data + pos);
        covered += 4 + n;
    }
    FUZZ_CHECK(rc == 0 || rc == ROOM_EPROTO);
    if (rc == 0)
        FUZZ_CHECK(covered == size && pos == size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rr_smsg m;
    if (rr_decode_storage(data, size, &m) == 0) {
        FUZZ_CHECK(m.type >= RR_ST_UPDATE && m.type <= RR_ST_LOG && m.room[0]);
        FUZZ_CHECK(!m.len || (m.data >= data && m.data + m.len <= data + size));
        round_trip(&m, data, size);
        entries(m.data, m.len);
    }
    entries(data, size);
    return 0;
}
