/* The rule every host-filled struct of every layer follows: it starts with
 * `size_t size` and grows only at its end, so a library reads no more than
 * the caller's struct holds, and a field it lacks stays 0 ("the default"). */
#include <string.h>

#include "internal.h"

int room_config_copy(void *dst, size_t dst_size, const void *src, size_t min_size)
{
    size_t src_size;
    if (!dst || dst_size < sizeof(size_t) || !src)
        return ROOM_EINVAL;
    memcpy(&src_size, src, sizeof src_size);
    if (src_size < min_size)
        return ROOM_EINVAL;
    memset(dst, 0, dst_size);
    memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
    memcpy(dst, &dst_size, sizeof dst_size);
    return 0;
}
