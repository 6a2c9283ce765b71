/* libroom: symbol export macro. Everything not marked ROOM_API is hidden. */
#ifndef ROOM_EXPORT_H
#define ROOM_EXPORT_H

#if defined(ROOM_STATIC)
#define ROOM_API
#elif defined(_WIN32)
#ifdef ROOM_BUILDING
#define ROOM_API __declspec(dllexport)
#else
#define ROOM_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define ROOM_API __attribute__((visibility("default")))
#else
#define ROOM_API
#endif

#endif
