// Every public header must compile as C++ and link from C++.
#include "room/adapter.h"
#include "room/codec.h"
#include "room/eio.h"
#include "room/frame.h"
#include "room/room.h"
#include "room/version.h"

#include <cstdio>
#include <cstring>

int main()
{
    room_config cfg;
    room_eio_config ecfg;
    room_eio *eio = nullptr;
    room_config_init(&cfg);
    room_eio_config_init(&ecfg);
    if (std::strcmp(room_version(), ROOM_VERSION_STRING) != 0 || cfg.size != sizeof cfg ||
        ecfg.size != sizeof ecfg || ecfg.send != nullptr) {
        std::puts("1 failed: version or config size mismatch");
        return 1;
    }
    // No send callback: refused, through the C++-compiled inline init.
    if (room_strerror(ROOM_ENOMEM) == nullptr || room_codec_json() == nullptr ||
        room_eio_new(&eio, &ecfg, nullptr) != ROOM_EINVAL || eio != nullptr) {
        std::puts("1 failed");
        return 1;
    }
    std::puts("1 passed, 0 failed");
    return 0;
}
