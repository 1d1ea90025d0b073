/*
 * src/http/ws_int.h — what the WebSocket files share: the inflater the
 * receiver (ws_frame.c) drives and the compressor side keep in ws_deflate.c,
 * so zlib stays in one file.
 */
#ifndef WEFT_WS_INT_H
#define WEFT_WS_INT_H

#include "weft/ws.h"

typedef struct weft_ws_inflater weft_ws_inflater;

/* An inflater for messages from the peer (role is ours: a server inflates
 * what the client compressed, with client_no_context_takeover telling whether
 * the client keeps its window between messages). NULL when out of memory. */
weft_ws_inflater *weft__ws_inflater_new(const weft_ws_deflate_params *p, int role);
/* Inflate in[0..n), a piece of one message's compressed payload, appending to
 * out while out->len stays <= max. fin: this is the last piece (the
 * 00 00 FF FF tail is added and the message ends). 0; WEFT_ELIMIT when the
 * inflated message would pass max (nothing past max is written);
 * WEFT_EPARSE when the data is not valid DEFLATE; WEFT_ENOMEM. */
int weft__ws_inflate(weft_ws_inflater *z, const void *in, size_t n, int fin, weft_buf *out,
                     size_t max);
void weft__ws_inflater_free(weft_ws_inflater *z);

/* Connections in two steps, for the server's upgrade (ws_upgrade.c): the
 * object exists before the socket is handed over, so a shutdown notification
 * that comes during the hand-over has somewhere to land. */
weft_ws *weft__ws_new(int role, const weft_ws_deflate_params *deflate, const weft_ws_config *cfg);
/* Give ws its socket and the bytes read past the handshake. 0, WEFT_ENOMEM. */
int weft__ws_attach(weft_ws *ws, int fd, const void *pending, size_t n);
/* The server is shutting down: queue a 1001 close (now, or at attach). Never
 * suspends; callable with other locks held (takes only ws's queue lock). */
void weft__ws_going_away(weft_ws *ws);
/* Queue a close with code and reason if the connection is open and has its
 * socket (else nothing). Never suspends. */
void weft__ws_close_async(weft_ws *ws, int code, const char *reason);
/* Shut the socket down now (readers wake, the status becomes 1006 with why
 * unless a close code was already known). Never suspends. */
void weft__ws_abort(weft_ws *ws, const char *why);
void weft__ws_ref(weft_ws *ws);
void weft__ws_unref(void *ws); /* a weft_defer() cleanup */
void weft__ws_set_subprotocol(weft_ws *ws, weft_str p);

/* Queue a hub message (its shared frame, no copy) on a server connection; a
 * client connection frames a copy (it must mask). weft_ws_send's results. */
int weft__ws_send_shared(weft_ws *ws, weft_hub_msg *m, uint64_t key, int flags); /* flags: weft_ws_send_msg's */
/* A flag of weft__ws_send_shared's own (with WEFT_WS_SEND_KEEP), for
 * weft_hub_publish_split: queue the message only while the connection keeps
 * up (what is queued, with it, stays within WEFT__WS_SHORT_DIV-th of
 * max_queue), else queue nothing and return WEFT_EAGAIN. Decided under the
 * queue's lock, with the send. */
enum { WEFT__WS_SEND_IF_SHORT = 0x100, WEFT__WS_SHORT_DIV = 4 };
/* 1 once the connection is closing or closed (no more sends). */
int weft__ws_is_closed(weft_ws *ws);
/* For tests: 1 while a writer task runs, an inline send writes or a hub
 * message's send is on the worker's ring, else 0. */
int weft__ws_has_writer(weft_ws *ws);
/* Whether hub messages to an idle server connection go to the worker's
 * io_uring (weft_send_async) instead of a writer task: 1 on (the default,
 * unless WEFT_WS_ASYNC_SEND=0 in the environment), 0 off. For tests and
 * A/B measurements; the epoll backend turns it off by itself. */
void weft__ws_set_async_send(int on);
/* For tests: hub messages sent through the ring so far, and how many of
 * those the socket did not take whole (handed to a writer task). */
void weft__ws_async_counts(uint64_t *sends, uint64_t *short_sends);

/* The hub message's frame bytes (head + payload, unmasked, uncompressed), and
 * the same compressed once (RSV1, no context takeover, 15-bit window), made
 * at the first call; {NULL,0} when out of memory. */
weft_str weft__hub_msg_frame(const weft_hub_msg *m);
weft_str weft__hub_msg_frame_z(weft_hub_msg *m);
weft_hub_msg *weft__hub_msg_ref(weft_hub_msg *m);
/* For tests: hub message frames made so far (one per message published, per
 * part of a split publish that a lagging subscriber needed, per
 * weft_hub_msg_new), and compressions run for weft__hub_msg_frame_z (one per
 * message, or more when writers on several threads found it not yet
 * compressed at once: the losers' copies are freed). */
void weft__hub_frame_counts(uint64_t *frames, uint64_t *deflated);

#endif
