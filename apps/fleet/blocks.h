/*
 * apps/fleet/blocks.h — a growing table of equal blocks that never move: the
 * live table's device entries (live.c) and the writer's motion slots
 * (motion.c) live in them, so an entry's address lasts and growing copies
 * only the list of blocks, never the entries.
 */
#ifndef FLEET_BLOCKS_H
#define FLEET_BLOCKS_H

#include <stdlib.h>

/* Append a zeroed block of `bytes` to blk[0..*n) (room *cap, doubled as
 * needed). The block, or NULL when out of memory (nothing changed). */
static inline void *blocks_add(void ***blk, size_t *n, size_t *cap, size_t bytes) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        void **a = realloc(*blk, c * sizeof *a);
        if (!a) return NULL;
        *blk = a, *cap = c;
    }
    void *b = calloc(1, bytes);
    if (b) (*blk)[(*n)++] = b;
    return b;
}

#endif
