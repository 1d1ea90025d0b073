/*
 * apps/readstates/readstates.h — the "Read States" service of the arena's
 * GC case (issue 13 part C; docs/gc-case.md): Discord's per-user read state
 * (which channel, the last message acked, unread mentions, when) kept in
 * memory for millions of users and served over HTTP. The same service is
 * written in Go (bench/peers/gc-go) and Rust (bench/peers/gc-rust); all three
 * hold the same entries, answer the same routes with the same JSON:
 *
 *   GET  /state/{user}   200 {"user_id":U,"channel_id":C,"last_message_id":M,
 *                             "mention_count":K,"updated_at":T}
 *   POST /state/{user}   (or PUT) body {"channel_id":C,"message_id":M}: the
 *                        user acked message M in channel C: channel_id = C,
 *                        last_message_id = M, mention_count = 0, updated_at =
 *                        now (Unix ms); 200 and the new state, same JSON
 *   400 {"error":...}    user is not a positive decimal integer; body is not
 *                        JSON, not an object, or channel_id / message_id is
 *                        missing or not a non-negative integer
 *   404 {"error":...}    no such user
 *
 * The store is an open-addressing hash table (linear probing, no deletes)
 * split into shards, each behind its own mutex, so the service is correct
 * on any number of workers; the arena runs it on one. The parts below are
 * pure (no sockets) so tests/unit/readstates.c and fuzz/readstates_ack.c
 * call them directly.
 */
#ifndef READSTATES_H
#define READSTATES_H

#include <stddef.h>
#include <stdint.h>

#include "weft/weft.h"

typedef struct rs_state {
    uint64_t user;    /* key; 0 marks an empty slot */
    uint64_t channel; /* the channel of the last ack */
    uint64_t last_message;
    int64_t updated_ms; /* Unix milliseconds */
    uint32_t mentions;
} rs_state;

typedef struct rs_store rs_store;

/* A store with room for at least `entries` users (the table never grows:
 * size it for what will be loaded). NULL when out of memory. */
rs_store *rs_store_new(size_t entries);
void rs_store_free(rs_store *s);
/* Insert or replace st (st->user > 0). 0, WEFT_EINVAL (user 0), WEFT_ELIMIT
 * (the table is full). */
int rs_store_put(rs_store *s, const rs_state *st);
/* Copy user's state into *out: 0, or WEFT_ENOENT. */
int rs_store_get(rs_store *s, uint64_t user, rs_state *out);
/* Apply an ack to user's state and copy the result into *out: 0 or
 * WEFT_ENOENT. */
int rs_store_ack(rs_store *s, uint64_t user, uint64_t channel, uint64_t message, int64_t now_ms,
                 rs_state *out);
size_t rs_store_len(const rs_store *s);

/* The deterministic initial state of user u, the same formula in the Go and
 * Rust peers: channel 1000 + (u * 2654435761) mod 100000, last message
 * 10^15 + 7u, u mod 4 mentions, updated 1700000000000 + u. */
rs_state rs_initial(uint64_t u);
/* Fill the store with users 1..n. 0 or rs_store_put's error. */
int rs_load(rs_store *s, uint64_t n);

/* {user} of the path: a decimal integer 1..2^63-1, no sign, no leading
 * zero, at most 19 digits. 0, or WEFT_EINVAL. */
int rs_parse_user(weft_str s, uint64_t *out);

/* The body of an ack. 0, or WEFT_EINVAL with *why a static message
 * (not JSON, not an object, missing or invalid field). */
typedef struct rs_ack {
    uint64_t channel, message;
} rs_ack;
int rs_parse_ack(const char *body, size_t n, weft_arena *a, rs_ack *out, const char **why);

/* The routes above on a new router, answering from s (borrowed; must
 * outlive the router). NULL when out of memory. */
weft_http_router *rs_router_new(rs_store *s);

#endif
