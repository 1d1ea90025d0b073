/*
 * apps/fleet-sim/encode.h — what a tracker puts on the wire, from sim_fix
 * values: Teltonika Codec 8 / 8 Extended frames (through the encoder beside
 * the server's decoder, tlt_encode in apps/fleet/teltonika.c) and OsmAnd requests (query/form and the Traccar Client 9 JSON
 * body). Pure: bytes into buffers, no I/O.
 */
#ifndef FLEET_SIM_ENCODE_H
#define FLEET_SIM_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

#include "vehicle.h"

/* The IMEI login frame ([len:u16][digits]) into out[0..cap): its size, or 0
 * when the IMEI is empty, longer than 17 or cap is too small. */
size_t tltenc_login(uint8_t *out, size_t cap, const char *imei);

/* One AVL packet carrying fixes[0..n) (1..255), codec TLT_CODEC8 or
 * TLT_CODEC8E (0x08 / 0x8E), appended to out with its CRC-16/ARC. Each
 * record carries the position (1e-7 degrees), altitude, course, satellites,
 * speed (whole km/h, as devices send it) and IO 239, 240, 21, 113, 66, 16,
 * plus 252 = 1 when the fix raises the unplug alarm (then also the
 * record's event IO id). Returns 0, WEFT_EINVAL (n or codec out of range)
 * or the buffer's WEFT_ENOMEM / WEFT_ELIMIT. */
int tltenc_packet(weft_buf *out, int codec, const sim_fix *fixes, int n);

/* The OsmAnd parameters of fix f for device id, form-encoded
 * ("id=...&timestamp=<Unix ms>&lat=...&lon=...&speed=<knots>&bearing=...
 * &altitude=...&accuracy=...&batt=...&ignition=true|false[&alarm=powerCut]"),
 * appended to out. 0 or the buffer's error. */
int osmenc_form(weft_buf *out, const char *id, const sim_fix *f);

/* The Traccar Client 9 JSON body for f (speed in m/s, ISO 8601 time,
 * battery level 0..1), appended to out. 0 or the buffer's error. */
int osmenc_json(weft_buf *out, const char *id, const sim_fix *f);

typedef enum osm_mode { OSM_GET = 0, OSM_POST_FORM = 1, OSM_POST_JSON = 2 } osm_mode;

/* A whole HTTP/1.1 keep-alive request carrying f to host:port in mode m
 * (GET /?params, POST / with a form body, POST / with the JSON body),
 * appended to out. 0 or the buffer's error. */
int osmenc_request(weft_buf *out, osm_mode m, const char *host, int port, const char *id,
                   const sim_fix *f);

#endif
