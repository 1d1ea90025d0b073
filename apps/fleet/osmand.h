/*
 * apps/fleet/osmand.h — the OsmAnd protocol over HTTP: what the Traccar
 * Client and OsmAnd apps (and many trackers' "HTTP" mode) send. Pure: the
 * HTTP server hands these functions the query string, the form body or the
 * JSON body; ingest_http.c does the I/O and answers.
 *
 *   Query or form (any method):
 *     id | deviceid       device's unique id (required)
 *     timestamp           Unix s or ms, ISO 8601, "yyyy-MM-dd HH:mm:ss" (UTC);
 *                         absent: the server's clock
 *     lat + lon | location=lat,lon
 *     speed (knots), bearing | heading (deg), altitude (m), accuracy (m),
 *     hdop, batt (%), charge (bool), valid (bool), driverUniqueId,
 *     ignition, motion (bool), alarm (sos, powerCut, ...)
 *     anything else       kept as an attribute (numbers as numbers)
 *   JSON (Traccar Client 9+, Content-Type application/json):
 *     {"device_id": "...", "location": {"timestamp": "...", "coords":
 *      {"latitude", "longitude", "speed" (m/s), "heading", "altitude",
 *       "accuracy"}, "is_moving", "odometer", "event",
 *      "battery": {"level" (0..1), "is_charging"}, "activity": {"type"},
 *      "extras": {...}}}
 *     "location" may also be an array of such objects (a batch).
 */
#ifndef FLEET_OSMAND_H
#define FLEET_OSMAND_H

#include "weft/base.h"

#include "fix.h"

#define OSMAND_ID_MAX 64
#define OSMAND_BATCH_MAX 256 /* locations in one JSON batch */

typedef struct osmand_msg {
    char device_id[OSMAND_ID_MAX + 1];
    char driver[OSMAND_ID_MAX + 1]; /* driverUniqueId, "" when absent */
    int nfix;                       /* fixes written to the caller's array */
} osmand_msg;

/* Parse the parameters of a query string and/or a form body (either may be
 * empty; the query's win when both name a parameter). now_ms stands in for a
 * missing timestamp. Writes one fix to *fix, its attributes (a JSON object)
 * appended to attrs; scratch holds the percent-decoded text meanwhile.
 * Returns 0, or WEFT_EPARSE with *why naming the parameter ("id is
 * required", "lat is not a number", "timestamp is not a time we read", ...). */
int osmand_parse_form(weft_str query, weft_str form, int64_t now_ms, osmand_msg *out,
                      fleet_fix *fix, weft_buf *attrs, weft_arena *scratch, const char **why);

/* A whole parameter value as a finite double, exactly as strtod reads it
 * (leading space, trailing text, inf and nan refused): 1, or 0 when it is
 * not one. Common decimals take an exact fast path. */
int osmand_number(weft_str s, double *out);

/* Parse a JSON body: fills fixes[0..cap) (out->nfix of them, a batch when
 * "location" is an array). Returns 0, WEFT_EPARSE (*why says what is wrong:
 * malformed JSON, a missing device_id or coordinate, a mistyped field) or
 * WEFT_ELIMIT (a batch over cap). */
int osmand_parse_json(weft_str body, int64_t now_ms, osmand_msg *out, fleet_fix *fixes, int cap,
                      weft_buf *attrs, weft_arena *scratch, const char **why);

#endif
