/* URL query strings (room_query_parse): the input is the query. A parsed
 * query is an object of strings; written back with every byte
 * percent-encoded and parsed again, it is the same object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* "k=v&..." with every byte of every key and value as %XX. */
static char *encode(json_t *obj, size_t *len)
{
    size_t cap = 1, o = 0;
    const char *key;
    json_t *value;
    char *out;
    json_object_foreach(obj, key, value) {
        cap += 3 * (strlen(key) + json_string_length(value)) + 2;
    }
    if (!(out = malloc(cap)))
        return NULL;
    json_object_foreach(obj, key, value) {
        const char *parts[2] = {key, json_string_value(value)};
        size_t lens[2] = {strlen(key), json_string_length(value)};
        if (o)
            out[o++] = '&';
        for (int p = 0; p < 2; p++) {
            if (p)
                out[o++] = '=';
            for (size_t i = 0; i < lens[p]; i++)
                o += (size_t)snprintf(out + o, 4, "%%%02X", (unsigned char)parts[p][i]);
        }
    }
    *len = o;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj = NULL, *again = NULL, *value;
    const char *key;
    size_t len;
    char *text;
    int rc = room_query_parse((const char *)data, size, &obj);

    FUZZ_CHECK(rc == 0 || rc == ROOM_EPROTO);
    FUZZ_CHECK(rc == 0 ? json_is_object(obj) : obj == NULL);
    if (rc != 0)
        return 0;
    json_object_foreach(obj, key, value) {
        FUZZ_CHECK(*key && json_is_string(value));
    }
    text = encode(obj, &len);
    FUZZ_CHECK(text != NULL);
    FUZZ_CHECK(room_query_parse(text, len, &again) == 0 && json_equal(obj, again));
    free(text);
    json_decref(again);
    json_decref(obj);
    return 0;
}
