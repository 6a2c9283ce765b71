#include "internal.h"

const char *room_version(void)
{
    return ROOM_VERSION_STRING;
}

unsigned room_version_num(void)
{
    return ROOM_VERSION_NUM;
}
