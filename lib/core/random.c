/* Unpredictable bytes, and the ids made of them. Connection ids and
 * Engine.IO session ids are the same kind of id, made here. */
#include <sys/random.h>

#include "internal.h"

int rm_random_default(void *buf, size_t len, void *user_data)
{
    uint8_t *p = buf;
    (void)user_data;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0)
            return ROOM_EINVAL;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* 120 random bits as 20 base64url characters, like Engine.IO's own ids. */
int room_id_generate(char out[ROOM_CONN_ID_LEN + 1], room_random_fn random, void *user_data)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[ROOM_CONN_ID_LEN / 4 * 3];
    size_t i, o = 0;
    if (!out)
        return ROOM_EINVAL;
    if (!random)
        random = rm_random_default;
    if (random(raw, sizeof raw, user_data) != 0)
        return ROOM_EINVAL;
    for (i = 0; i < sizeof raw; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    out[o] = '\0';
    return 0;
}
