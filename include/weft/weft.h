/*
 * weft.h — umbrella header: include this and you have all of weft.
 *
 *   base.h  errors, arena, buffers, string slices
 *   log.h   leveled logging
 *   rt.h    tasks, channels, select, sync, time, cancellation, I/O
 *   http.h  HTTP/1.1 request parser and chunked decoder
 *   json.h  JSON parser (arena DOM) and encoder
 *   ws.h    WebSocket (codec, handshake, connections, client) and the hub
 *   sse.h   Server-Sent Events
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

#define WEFT_VERSION "0.1.0"

#endif
