/* roomd's identities and signed tokens (examples/roomd/auth.c): the token
 * verifier against a vector made by another implementation (Python's hmac),
 * tampering, expiry, strict decoding and every claim's bounds, declared
 * identities, room checks, the connect refusal and the forbidden answer
 * through a real hub, and failing jansson's allocations one by one. */
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/hmac.h>

#include "../examples/roomd/auth.h"
#include "test_util.h"

#define KEY ((const uint8_t *)"s3cret")
#define KEY_LEN 6
#define NOW 1767225600 /* 2026-01-01 */

/* {"userId":"42","name":"Ada","role":"TEACHER","exp":4102444800,
 *  "rooms":["math","pr:1"]} signed with "s3cret" by Python's hmac. */
static const char vector[] =
    "eyJ1c2VySWQiOiI0MiIsIm5hbWUiOiJBZGEiLCJyb2xlIjoiVEVBQ0hFUiIsImV4cCI6NDEwMjQ0NDgwMCwicm9vbXMi"
    "OlsibWF0aCIsInByOjEiXX0.Yau531Z7yXd1sK9lmGKFZPjHc3VCO7mMOP4y83KeXE0";

/* Unpadded base64url of `len` bytes into out (NUL-terminated). */
static void b64url(const uint8_t *in, size_t len, char *out)
{
    size_t n = BASE64_ENCODE_RAW_LENGTH(len), i;
    base64_encode_raw(out, len, in);
    while (n && out[n - 1] == '=')
        n--;
    out[n] = 0;
    for (i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

/* A token for any claims text, signed with `key` (malloc'd). */
static char *sign_with(const char *key, const char *claims)
{
    struct hmac_sha256_ctx ctx;
    uint8_t mac[SHA256_DIGEST_SIZE];
    size_t len = strlen(claims);
    char *out = malloc(BASE64_ENCODE_RAW_LENGTH(len) + 50);
    size_t plen;
    assert_non_null(out);
    b64url((const uint8_t *)claims, len, out);
    plen = strlen(out);
    hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
    hmac_sha256_update(&ctx, plen, (const uint8_t *)out);
    hmac_sha256_digest(&ctx, sizeof mac, mac);
    out[plen] = '.';
    b64url(mac, sizeof mac, out + plen + 1);
    return out;
}

static char *sign(const char *claims)
{
    return sign_with("s3cret", claims);
}

static int verify(const char *token, json_t **id, const char **why)
{
    return roomd_token_verify(KEY, KEY_LEN, token, strlen(token), NOW, id, why);
}

/* The reason `token` is refused with. */
static const char *refused(const char *token)
{
    json_t *id = (json_t *)1;
    const char *why = NULL;
    assert_int_equal(verify(token, &id, &why), ROOM_EDENIED);
    assert_null(id);
    assert_non_null(why);
    return why;
}

static const char *refused_claims(const char *claims)
{
    char *t = sign(claims);
    const char *why = refused(t);
    free(t);
    return why;
}

static void accepted_claims(const char *claims)
{
    char *t = sign(claims);
    json_t *id;
    const char *why;
    assert_int_equal(verify(t, &id, &why), 0);
    json_decref(id);
    free(t);
}

static void test_vector(void **state)
{
    json_t *id, *expect;
    const char *why = "x";
    (void)state;
    assert_int_equal(verify(vector, &id, &why), 0);
    assert_null(why);
    /* exp is the verifier's business, not the identity's. */
    expect = json_pack("{s:s,s:s,s:s,s:[s,s]}", "userId", "42", "name", "Ada", "role", "TEACHER",
                       "rooms", "math", "pr:1");
    assert_true(json_equal(id, expect));
    json_decref(expect);
    json_decref(id);
}

static void test_tampered(void **state)
{
    char t[sizeof vector];
    size_t dot = strchr(vector, '.') - vector;
    json_t *id;
    const char *why;
    (void)state;
    /* Any changed character of the claims or the MAC. */
    for (size_t i = 0; i < sizeof vector - 1; i++) {
        if (i == dot)
            continue;
        memcpy(t, vector, sizeof vector);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(verify(t, &id, &why), 0);
    }
    /* Another key. */
    assert_int_equal(roomd_token_verify((const uint8_t *)"s3creT", 6, vector, strlen(vector), NOW,
                                        &id, &why),
                     ROOM_EDENIED);
    assert_string_equal(why, "bad token signature");
    /* Claims of another token under this one's MAC: a teacher's role kept,
     * the userId swapped. */
    {
        char *other = sign_with("other", "{\"userId\":\"1\",\"exp\":4102444800,\"rooms\":[\"*\"]}");
        char *mixed = malloc(strlen(other) + 1);
        strcpy(mixed, other);
        memcpy(strchr(mixed, '.') + 1, strchr(vector, '.') + 1, 43);
        assert_string_equal(refused(mixed), "bad token signature");
        free(mixed);
        free(other);
    }
}

static void test_expiry(void **state)
{
    json_t *id;
    const char *why;
    char *t = sign("{\"userId\":\"a\",\"exp\":1767225601,\"rooms\":[]}");
    (void)state;
    assert_int_equal(verify(t, &id, &why), 0);
    json_decref(id);
    /* At its exp second it has expired. */
    assert_int_equal(roomd_token_verify(KEY, KEY_LEN, t, strlen(t), NOW + 1, &id, &why), ROOM_EDENIED);
    assert_string_equal(why, "token expired");
    assert_null(id);
    free(t);
    assert_string_equal(refused_claims("{\"userId\":\"a\",\"exp\":-1,\"rooms\":[]}"), "token expired");
}

static void test_malformed(void **state)
{
    char t[sizeof vector + 8], *big;
    size_t dot = strchr(vector, '.') - vector;
    (void)state;
    assert_string_equal(refused(""), "malformed token");
    assert_string_equal(refused("abc"), "malformed token");
    assert_string_equal(refused(strchr(vector, '.')), "malformed token"); /* no claims */
    /* The MAC padded, cut short, too long, with a foreign character. */
    snprintf(t, sizeof t, "%s=", vector);
    assert_string_equal(refused(t), "malformed token");
    snprintf(t, sizeof t, "%.*s", (int)strlen(vector) - 1, vector);
    assert_string_equal(refused(t), "malformed token");
    snprintf(t, sizeof t, "%sA", vector);
    assert_string_equal(refused(t), "malformed token");
    memcpy(t, vector, sizeof vector);
    t[dot + 5] = '+';
    assert_string_equal(refused(t), "malformed token");
    /* The MAC's last character with a stray low bit: another spelling of
     * the same bytes: '0' is 52 (110100), '1' 53, and only the top four
     * bits of the last character are MAC. */
    memcpy(t, vector, sizeof vector);
    assert_int_equal(t[sizeof vector - 2], '0');
    t[sizeof vector - 2] = '1';
    assert_string_equal(refused(t), "malformed token");
    /* Two dots. */
    memcpy(t, vector, sizeof vector);
    t[3] = '.';
    assert_string_equal(refused(t), "malformed token");
    /* Longer than ROOMD_TOKEN_MAX, whatever it holds. */
    big = malloc(ROOMD_TOKEN_MAX + 2);
    memset(big, 'A', ROOMD_TOKEN_MAX + 1);
    big[ROOMD_TOKEN_MAX + 1] = 0;
    assert_string_equal(refused(big), "token too long");
    free(big);
}

/* Claims under a valid MAC are still decoded strictly. */
static void test_claims(void **state)
{
    char claims[512], name[ROOMD_ID_MAX + 2], rooms[ROOMD_ROOMS_MAX * 6 + 8];
    size_t i, o = 0;
    (void)state;
    assert_string_equal(refused_claims("not json"), "token claims are not JSON");
    assert_string_equal(refused_claims("[1]"), "token claims must be an object");
    assert_string_equal(refused_claims("{\"userId\":\"a\",\"userId\":\"b\",\"exp\":4102444800,\"rooms\":[]}"),
                        "token claims are not JSON");
    assert_string_equal(refused_claims("{\"userId\":\"a\",\"exp\":4102444800,\"rooms\":[],\"admin\":true}"),
                        "token has an unknown claim");
    assert_string_equal(refused_claims("{\"exp\":4102444800,\"rooms\":[]}"),
                        "token userId must be a non-empty string of at most 128 bytes");
    assert_string_equal(refused_claims("{\"userId\":42,\"exp\":4102444800,\"rooms\":[]}"),
                        "token userId must be a non-empty string of at most 128 bytes");
    assert_string_equal(refused_claims("{\"userId\":\"\",\"exp\":4102444800,\"rooms\":[]}"),
                        "token userId must be a non-empty string of at most 128 bytes");
    assert_string_equal(refused_claims("{\"userId\":\"a\\u0000b\",\"exp\":4102444800,\"rooms\":[]}"),
                        "token claims are not JSON");
    assert_string_equal(refused_claims("{\"userId\":\"a\",\"name\":null,\"exp\":4102444800,\"rooms\":[]}"),
                        "token name must be a non-empty string of at most 128 bytes");
    assert_string_equal(refused_claims("{\"userId\":\"a\",\"role\":\"\",\"exp\":4102444800,\"rooms\":[]}"),
                        "token role must be a non-empty string of at most 32 bytes");
    assert_string_equal(refused_claims("{\"userId\":\"a\",\"exp\":4102444800.5,\"rooms\":[]}"),
                        "token exp must be an integer (Unix seconds)");
    assert_string_equal(refused_claims("{\"userId\":\"a\",\"exp\":\"4102444800\",\"rooms\":[]}"),
                        "token exp must be an integer (Unix seconds)");
    assert_string_equal(refused_claims("{\"userId\":\"a\",\"exp\":4102444800}"),
                        "token rooms must be an array of at most 64 room names");
    assert_string_equal(refused_claims("{\"userId\":\"a\",\"exp\":4102444800,\"rooms\":\"*\"}"),
                        "token rooms must be an array of at most 64 room names");
    assert_string_equal(refused_claims("{\"userId\":\"a\",\"exp\":4102444800,\"rooms\":[\"\"]}"),
                        "token rooms must be non-empty strings of at most 128 bytes");
    assert_string_equal(refused_claims("{\"userId\":\"a\",\"exp\":4102444800,\"rooms\":[1]}"),
                        "token rooms must be non-empty strings of at most 128 bytes");

    /* The bounds themselves pass, one more fails. */
    memset(name, 'n', ROOMD_ID_MAX);
    name[ROOMD_ID_MAX] = 0;
    snprintf(claims, sizeof claims, "{\"userId\":\"%s\",\"name\":\"%s\",\"exp\":4102444800,\"rooms\":[]}",
             name, name);
    accepted_claims(claims);
    name[ROOMD_ID_MAX] = 'n';
    name[ROOMD_ID_MAX + 1] = 0;
    snprintf(claims, sizeof claims, "{\"userId\":\"%s\",\"exp\":4102444800,\"rooms\":[]}", name);
    assert_string_equal(refused_claims(claims), "token userId must be a non-empty string of at most 128 bytes");
    o += (size_t)sprintf(rooms + o, "[");
    for (i = 0; i < ROOMD_ROOMS_MAX; i++)
        o += (size_t)sprintf(rooms + o, "%s\"r%zu\"", i ? "," : "", i);
    sprintf(rooms + o, "]");
    snprintf(claims, sizeof claims, "{\"userId\":\"a\",\"exp\":4102444800,\"rooms\":%s}", rooms);
    accepted_claims(claims);
    sprintf(rooms + o, ",\"x\"]");
    snprintf(claims, sizeof claims, "{\"userId\":\"a\",\"exp\":4102444800,\"rooms\":%s}", rooms);
    assert_string_equal(refused_claims(claims), "token rooms must be an array of at most 64 room names");
}

static void test_declared(void **state)
{
    json_t *auth = json_pack("{s:s,s:s}", "userId", "alice", "name", "Alice");
    json_t *query = json_pack("{s:s,s:s}", "userId", "bob", "name", "Bob");
    json_t *id;
    const char *why;
    (void)state;
    /* The auth payload first, key by key the query. */
    assert_int_equal(roomd_identity_from(NULL, 0, auth, query, NOW, &id, &why), 0);
    assert_string_equal(json_string_value(json_object_get(id, "userId")), "alice");
    assert_null(json_object_get(id, "rooms"));
    json_decref(id);
    json_object_del(auth, "name");
    assert_int_equal(roomd_identity_from(NULL, 0, auth, query, NOW, &id, &why), 0);
    assert_string_equal(json_string_value(json_object_get(id, "name")), "Bob");
    json_decref(id);
    assert_int_equal(roomd_identity_from(NULL, 0, NULL, query, NOW, &id, &why), 0);
    assert_string_equal(json_string_value(json_object_get(id, "userId")), "bob");
    json_decref(id);
    /* Nothing declared: anonymous. */
    id = (json_t *)1;
    assert_int_equal(roomd_identity_from(NULL, 0, NULL, NULL, NOW, &id, &why), 0);
    assert_null(id);
    /* Declared wrongly. */
    json_object_set_new(auth, "userId", json_integer(7));
    assert_int_equal(roomd_identity_from(NULL, 0, auth, NULL, NOW, &id, &why), ROOM_EDENIED);
    assert_string_equal(why, "userId must be a non-empty string of at most 128 bytes");
    /* An embedded NUL would make the C string another user. */
    json_object_set_new(auth, "userId", json_stringn("a\0b", 3));
    assert_int_equal(roomd_identity_from(NULL, 0, auth, NULL, NOW, &id, &why), ROOM_EDENIED);
    json_object_clear(auth);
    json_object_set_new(auth, "name", json_string("X"));
    assert_int_equal(roomd_identity_from(NULL, 0, auth, NULL, NOW, &id, &why), ROOM_EDENIED);
    assert_string_equal(why, "name without userId");
    json_object_set_new(auth, "name", json_string(""));
    assert_int_equal(roomd_identity_from(NULL, 0, auth, NULL, NOW, &id, &why), ROOM_EDENIED);
    assert_string_equal(why, "name must be a non-empty string of at most 128 bytes");

    /* With a key, declarations count for nothing: a token is required. */
    json_object_clear(auth);
    json_object_set_new(auth, "userId", json_string("alice"));
    assert_int_equal(roomd_identity_from(KEY, KEY_LEN, auth, query, NOW, &id, &why), ROOM_EDENIED);
    assert_string_equal(why, "a signed token is required (auth.token or the query parameter token)");
    json_object_set_new(auth, "token", json_integer(1));
    assert_int_equal(roomd_identity_from(KEY, KEY_LEN, auth, query, NOW, &id, &why), ROOM_EDENIED);
    json_object_set_new(auth, "token", json_string(vector));
    assert_int_equal(roomd_identity_from(KEY, KEY_LEN, auth, query, NOW, &id, &why), 0);
    assert_string_equal(json_string_value(json_object_get(id, "userId")), "42");
    json_decref(id);
    /* /ws: the token in the query. */
    json_object_set_new(query, "token", json_string(vector));
    assert_int_equal(roomd_identity_from(KEY, KEY_LEN, NULL, query, NOW, &id, &why), 0);
    json_decref(id);
    json_object_set_new(query, "token", json_string("x.y"));
    assert_int_equal(roomd_identity_from(KEY, KEY_LEN, NULL, query, NOW, &id, &why), ROOM_EDENIED);
    assert_string_equal(why, "malformed token");
    json_decref(auth);
    json_decref(query);
}

static void test_may_join(void **state)
{
    json_t *id = json_pack("{s:s,s:[s,s]}", "userId", "a", "rooms", "pr:1", "math");
    (void)state;
    assert_true(roomd_identity_may_join(NULL, "anything"));
    assert_true(roomd_identity_may_join(id, "pr:1"));
    assert_true(roomd_identity_may_join(id, "math"));
    assert_false(roomd_identity_may_join(id, "pr:10"));
    assert_false(roomd_identity_may_join(id, "pr:"));
    assert_false(roomd_identity_may_join(id, "*"));
    json_array_clear(json_object_get(id, "rooms"));
    assert_false(roomd_identity_may_join(id, "pr:1"));
    json_array_append_new(json_object_get(id, "rooms"), json_string("*"));
    assert_true(roomd_identity_may_join(id, "pr:1"));
    json_decref(id);
    /* A self-declared identity has no list: every room. */
    id = json_pack("{s:s}", "userId", "a");
    assert_true(roomd_identity_may_join(id, "pr:1"));
    json_decref(id);
}

/* The connect refusal and the forbidden answer through a real hub. */
static int on_join(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    (void)ud;
    return roomd_forbid(hub, conn, ev, json_string_value(json_array_get(ev->args, 0)));
}

static void test_hub(void **state)
{
    roomd_auth a = {KEY, KEY_LEN};
    room_open_args args;
    fake_net net = {0};
    fake_peer *p = calloc(1, sizeof *p);
    json_t *refusal = NULL, *j;
    room_conn *conn;
    (void)state;
    assert_non_null(fake_hub(&net, 1));
    assert_int_equal(roomd_auth_register(net.hub, &a), 0);
    assert_int_equal(room_on(net.hub, "j", on_join, NULL), 0);
    room_open_args_init(&args);
    args.auth = json_pack("{s:s}", "userId", "alice");
    assert_int_equal(room_conn_open_with(net.hub, p, &args, &conn, &refusal), ROOM_EDENIED);
    assert_null(conn);
    assert_string_equal(json_string_value(json_object_get(refusal, "msg")),
                        "a signed token is required (auth.token or the query parameter token)");
    json_decref(refusal);
    assert_int_equal(room_conn_count(net.hub), 0);
    json_object_set_new(args.auth, "token", json_string(vector));
    assert_int_equal(room_conn_open_with(net.hub, p, &args, &p->conn, &refusal), 0);
    json_decref(args.auth);

    /* Answered by the handler: the hub has nothing more to say. */
    assert_int_equal(fake_recv(&net, p, "{\"event\":\"j\",\"data\":\"pr:2\"}"), 0);
    assert_error_code(p, "forbidden");
    j = fake_event_data(p, "error");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "not allowed in room pr:2");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "data"), "event")), "j");
    json_decref(j);
    /* As the acknowledgement when one is asked for. */
    fake_clear(p);
    fake_recv(&net, p, "{\"event\":\"j\",\"data\":\"pr:2\",\"id\":5}");
    assert_int_equal(p->nframes, 1);
    j = fake_json(p, 0);
    assert_int_equal(json_integer_value(json_object_get(j, "ack")), 5);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(j, "data"), "data"), "code")),
                        "forbidden");
    json_decref(j);
    fake_close(&net, p);
    room_hub_free(net.hub);
}

/* jansson's allocations failed one by one: a refusal, nothing leaked,
 * until the call succeeds. (jansson reports some failures as bad JSON, so
 * a signed token is refused then as ROOM_EDENIED: closed, not open.) */
static size_t live, fail_at, count;

static void *failing_malloc(size_t size)
{
    void *p;
    if (++count == fail_at)
        return NULL;
    p = malloc(size);
    live += p != NULL;
    return p;
}

static void counting_free(void *p)
{
    live -= p != NULL;
    free(p);
}

static void test_alloc_failures(void **state)
{
    json_t *auth = json_pack("{s:s,s:s}", "userId", "alice", "name", "Alice");
    json_t *id;
    const char *why;
    size_t n;
    int rc, which;
    (void)state;
    json_set_alloc_funcs(failing_malloc, counting_free);
    for (which = 0; which < 2; which++) {
        for (n = 1;; n++) {
            count = live = 0;
            fail_at = n;
            rc = which ? roomd_identity_from(NULL, 0, auth, NULL, NOW, &id, &why)
                       : verify(vector, &id, &why);
            if (rc == 0)
                break;
            assert_true(rc == ROOM_ENOMEM || (rc == ROOM_EDENIED && !which));
            assert_null(id);
            assert_int_equal(live, 0);
        }
        assert_true(n > 1);
        json_decref(id);
        assert_int_equal(live, 0);
    }
    json_set_alloc_funcs(malloc, free);
    json_decref(auth);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector),   cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_expiry),   cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_claims),   cmocka_unit_test(test_declared),
        cmocka_unit_test(test_may_join), cmocka_unit_test(test_hub),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
