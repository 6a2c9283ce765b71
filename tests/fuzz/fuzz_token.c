/* roomd's signed tokens (examples/roomd/auth.c). The first byte picks what
 * the rest is:
 *   'T'  a token, verified with the key "fuzz-key" (the seeds hold valid
 *        ones, so that mutations reach past the MAC check);
 *   'C'  the claims, which the target encodes and signs itself, so that
 *        every input reaches the claims decoder;
 *   'D'  a CONNECT auth payload (JSON) for a self-declared identity.
 * Checked: only the documented results; an identity holds exactly what
 * auth.h promises, within its bounds, and may join each room it lists; a
 * token the target signed is never malformed nor badly signed. */
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/hmac.h>

#include "../../examples/roomd/auth.h"
#include "fuzz.h"

#define KEY "fuzz-key"
#define NOW 1767225600

static int bounded_string(const json_t *v, size_t max)
{
    size_t n = json_string_length(v);
    return json_is_string(v) && n > 0 && n <= max && strlen(json_string_value(v)) == n;
}

static void check_identity(const json_t *id, int signed_token)
{
    const char *key;
    json_t *v, *rooms;
    size_t i;
    FUZZ_CHECK(json_is_object(id));
    json_object_foreach((json_t *)id, key, v) {
        FUZZ_CHECK(strcmp(key, "userId") == 0 || strcmp(key, "name") == 0 ||
                   (signed_token && (strcmp(key, "role") == 0 || strcmp(key, "rooms") == 0)));
    }
    FUZZ_CHECK(bounded_string(json_object_get(id, "userId"), ROOMD_ID_MAX));
    v = json_object_get(id, "name");
    FUZZ_CHECK(!v || bounded_string(v, ROOMD_ID_MAX));
    v = json_object_get(id, "role");
    FUZZ_CHECK(!v || bounded_string(v, ROOMD_ROLE_MAX));
    rooms = json_object_get(id, "rooms");
    FUZZ_CHECK(signed_token ? json_is_array(rooms) : rooms == NULL);
    FUZZ_CHECK(json_array_size(rooms) <= ROOMD_ROOMS_MAX);
    json_array_foreach(rooms, i, v) {
        FUZZ_CHECK(bounded_string(v, ROOMD_ROOM_MAX));
        FUZZ_CHECK(roomd_identity_may_join(id, json_string_value(v)));
    }
}

static void verify(const char *token, size_t len, int made_here)
{
    json_t *id;
    const char *why;
    int rc = roomd_token_verify((const uint8_t *)KEY, strlen(KEY), token, len, NOW, &id, &why);
    FUZZ_CHECK(rc == 0 || rc == ROOM_EDENIED || rc == ROOM_ENOMEM);
    FUZZ_CHECK((rc == 0) == (id != NULL));
    FUZZ_CHECK((rc == ROOM_EDENIED) == (why != NULL));
    if (made_here && rc == ROOM_EDENIED)
        FUZZ_CHECK(strcmp(why, "bad token signature") != 0 && strcmp(why, "malformed token") != 0);
    if (rc == 0)
        check_identity(id, 1);
    json_decref(id);
}

static size_t b64url(const uint8_t *in, size_t len, char *out)
{
    size_t n = BASE64_ENCODE_RAW_LENGTH(len), i;
    base64_encode_raw(out, len, in);
    while (n && out[n - 1] == '=')
        n--;
    for (i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return n;
}

static void sign_and_verify(const uint8_t *claims, size_t len)
{
    struct hmac_sha256_ctx ctx;
    uint8_t mac[SHA256_DIGEST_SIZE];
    char *token = malloc(BASE64_ENCODE_RAW_LENGTH(len) + BASE64_ENCODE_RAW_LENGTH(sizeof mac) + 1);
    size_t n;
    FUZZ_CHECK(token != NULL);
    n = b64url(claims, len, token);
    hmac_sha256_set_key(&ctx, strlen(KEY), (const uint8_t *)KEY);
    hmac_sha256_update(&ctx, n, (const uint8_t *)token);
    hmac_sha256_digest(&ctx, sizeof mac, mac);
    token[n++] = '.';
    n += b64url(mac, sizeof mac, token + n);
    /* An empty claims part is malformed however it is signed. */
    if (len)
        verify(token, n, 1);
    free(token);
}

static void declared(const uint8_t *data, size_t len)
{
    json_t *auth = json_loadb((const char *)data, len, JSON_ALLOW_NUL, NULL);
    json_t *id;
    const char *why;
    int rc = roomd_identity_from(NULL, 0, auth, auth, NOW, &id, &why);
    FUZZ_CHECK(rc == 0 || rc == ROOM_EDENIED || rc == ROOM_ENOMEM);
    FUZZ_CHECK((rc == ROOM_EDENIED) == (why != NULL));
    if (id)
        check_identity(id, 0);
    /* Without a userId in an object, nobody. */
    if (rc == 0 && !json_object_get(auth, "userId"))
        FUZZ_CHECK(id == NULL);
    json_decref(id);
    json_decref(auth);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0]) {
    case 'T': verify((const char *)data + 1, size - 1, 0); break;
    case 'C': sign_and_verify(data + 1, size - 1); break;
    case 'D': declared(data + 1, size - 1); break;
    default: break;
    }
    return 0;
}
