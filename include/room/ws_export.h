/* Symbol export macros of libroom-ws (ROOM_WS_API) and of its libuv
 * binding libroom-uv (ROOM_UV_API). Everything not marked is hidden.
 * ROOM_STATIC is for programs linking the static libraries. */
#ifndef ROOM_WS_EXPORT_H
#define ROOM_WS_EXPORT_H

#if defined(ROOM_STATIC)
#define ROOM_WS_API
#define ROOM_UV_API
#elif defined(_WIN32)
#ifdef ROOM_WS_BUILDING
#define ROOM_WS_API __declspec(dllexport)
#else
#define ROOM_WS_API __declspec(dllimport)
#endif
#ifdef ROOM_UV_BUILDING
#define ROOM_UV_API __declspec(dllexport)
#else
#define ROOM_UV_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define ROOM_WS_API __attribute__((visibility("default")))
#define ROOM_UV_API __attribute__((visibility("default")))
#else
#define ROOM_WS_API
#define ROOM_UV_API
#endif

#endif
