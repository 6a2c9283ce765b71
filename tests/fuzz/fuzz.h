/* What every fuzz target shares: invariant checks that abort, a counting
 * allocator for the hubs and the room_eio, a deterministic random source,
 * and the script reader of the line-driven targets. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "room/room.h"

/* libFuzzer's entry point; tests/fuzz/replay.c calls it without libFuzzer. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A violated invariant is a finding like a crash: report it and abort, so
 * that libFuzzer saves the input. */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))
_Noreturn void fuzz_fail(const char *file, int line, const char *what);

/* Counts what is live through it, in bytes and blocks, independently of
 * the hub's own count, so a target can tell that everything came back. */
typedef struct fuzz_alloc {
    size_t bytes;
    size_t blocks;
} fuzz_alloc;
room_allocator fuzz_allocator(fuzz_alloc *counts);

/* Connection and session ids from a counter the target resets per input:
 * the same input makes the same ids, which libFuzzer needs to reproduce a
 * finding, and which lets an input name another connection ("direct"). */
void fuzz_random_reset(void);
int fuzz_random(void *buf, size_t len, void *user_data);

/* One command of a script: "<op><slot><arg>\n". */
typedef struct fuzz_cmd {
    char op;
    unsigned slot;
    const uint8_t *arg;
    size_t len;
} fuzz_cmd;
/* Takes the next command off *data (any bytes; a line shorter than two
 * bytes is skipped); 0 at the end. `slots` bounds cmd->slot. */
int fuzz_next_cmd(const uint8_t **data, size_t *size, unsigned slots, fuzz_cmd *cmd);
/* The decimal number at the start of arg (at most 9 digits; 0 if none). */
uint32_t fuzz_arg_number(const fuzz_cmd *cmd);

#endif
