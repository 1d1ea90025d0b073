/*
 * weft.h — umbrella header: include this and you have all of weft that an
 * application uses.
 *
 *   base.h  error codes, WEFT_ASSERT, arena, buffers, string slices
 *   log.h   leveled logging (and its context callback)
 *   rt.h    the runtime: tasks, groups, channels, select, sync, time,
 *           cancellation, non-blocking I/O, blocking work
 *   http.h  HTTP/1.1: the request parser and chunked decoder, and on them
 *           the server, router, middleware, responses (buffered, streamed,
 *           files), connection hand-over and an in-process test client
 *   json.h  JSON parser (arena DOM) and encoder
 *   ws.h    WebSocket (codec, handshake, connections, client) and the hub
 *   sse.h   Server-Sent Events
 *   db.h    databases on the scheduler: PostgreSQL (libpq, pipelined) and
 *           SQLite, one interface
 *
 * Not included: impl.h, the tier for people extending weft (modules and
 * protocol libraries: cancellation masking, task references, fd waits,
 * sends batched on the worker's io_uring); include it yourself when you
 * need it.
 */
#ifndef WEFT_H
#define WEFT_H

#include "base.h"
#include "log.h"
#include "rt.h"
#include "http.h"
#include "json.h"
#include "ws.h"
#include "sse.h"
#include "db.h"

#define WEFT_VERSION "0.1.0"

#endif
