/*
 * apps/fleet-sim/encode.c — device wire formats (encode.h).
 */
#include "encode.h"

#include <math.h>
#include <string.h>

#include "isotime.h"
#include "teltonika.h"

size_t tltenc_login(uint8_t *out, size_t cap, const char *imei) {
    size_t n = strlen(imei);
    if (n == 0 || n > TLT_IMEI_MAX || cap < n + 2) return 0;
    out[0] = (uint8_t)(n >> 8), out[1] = (uint8_t)n;
    memcpy(out + 2, imei, n);
    return n + 2;
}

static void put(uint8_t **p, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--) *(*p)++ = (uint8_t)(v >> (8 * i));
}

/* Bytes of one record at most: 8 + 1 + 15 GPS + IO header and 8 elements. */
#define REC_MAX 96

static uint8_t *record(uint8_t *p, int ext, const sim_fix *f) {
    int idw = ext ? 2 : 1; /* ids and counts: 2 bytes in Codec 8 Extended */
    put(&p, (uint64_t)f->t_ms, 8);
    put(&p, f->unplug ? 2 : 0, 1); /* priority: panic for an alarm */
    put(&p, (uint32_t)(int32_t)lround(f->lon * 1e7), 4);
    put(&p, (uint32_t)(int32_t)lround(f->lat * 1e7), 4);
    put(&p, (uint16_t)(int16_t)lround(f->altitude), 2);
    put(&p, (uint16_t)(lround(f->course) % 360), 2);
    put(&p, (uint8_t)f->sats, 1);
    put(&p, (uint16_t)lround(f->speed_kmh), 2);
    /* IO: event id, total, then groups by value size */
    int n1 = 4 + (f->unplug != 0);
    put(&p, f->unplug ? TLT_IO_UNPLUG : 0, idw);
    put(&p, (uint64_t)(n1 + 2), idw);
    put(&p, (uint64_t)n1, idw);
    put(&p, TLT_IO_IGNITION, idw), put(&p, f->ignition ? 1 : 0, 1);
    put(&p, TLT_IO_MOVEMENT, idw), put(&p, f->moving ? 1 : 0, 1);
    put(&p, TLT_IO_GSM, idw), put(&p, (uint8_t)f->gsm, 1);
    put(&p, TLT_IO_BATTERY, idw), put(&p, (uint8_t)lround(f->battery_pct), 1);
    if (f->unplug) put(&p, TLT_IO_UNPLUG, idw), put(&p, 1, 1);
    put(&p, 1, idw); /* 2-byte values */
    put(&p, TLT_IO_EXT_VOLT, idw), put(&p, (uint16_t)lround(f->power_v * 1000), 2);
    put(&p, 1, idw); /* 4-byte values */
    put(&p, TLT_IO_ODOMETER, idw), put(&p, (uint32_t)llround(f->odometer_m), 4);
    put(&p, 0, idw);        /* 8-byte values */
    if (ext) put(&p, 0, 2); /* variable-length values (Codec 8 Extended only) */
    return p;
}

int tltenc_packet(weft_buf *out, int codec, const sim_fix *fixes, int n) {
    if (n < 1 || n > TLT_RECORDS_MAX || (codec != TLT_CODEC8 && codec != TLT_CODEC8E))
        return WEFT_EINVAL;
    size_t max = 8 + 2 + (size_t)n * REC_MAX + 1 + 4;
    int rc = weft_buf_reserve(out, max);
    if (rc < 0) return rc;
    uint8_t *start = (uint8_t *)out->data + out->len, *p = start + 8, *data = p;
    put(&p, (uint64_t)codec, 1);
    put(&p, (uint64_t)n, 1);
    for (int i = 0; i < n; i++) p = record(p, codec == TLT_CODEC8E, &fixes[i]);
    put(&p, (uint64_t)n, 1);
    size_t dlen = (size_t)(p - data);
    uint8_t *h = start;
    put(&h, 0, 4);
    put(&h, dlen, 4);
    put(&p, tlt_crc16(data, dlen), 4);
    out->len += (size_t)(p - start);
    out->data[out->len] = 0;
    return 0;
}

int osmenc_form(weft_buf *out, const char *id, const sim_fix *f) {
    /* ids are ours ("sim-0001"): unreserved characters, nothing to escape */
    int rc = weft_buf_printf(
        out,
        "id=%s&timestamp=%lld&lat=%.7f&lon=%.7f&speed=%.2f&bearing=%.1f&altitude=%.1f"
        "&accuracy=%d&batt=%.1f&ignition=%s",
        id, (long long)f->t_ms, f->lat, f->lon, f->speed_kmh / 1.852, f->course, f->altitude,
        f->sats >= 9 ? 5 : 8, f->battery_pct, f->ignition ? "true" : "false");
    if (rc >= 0 && f->unplug) rc = weft_buf_appends(out, "&alarm=powerCut");
    return rc < 0 ? rc : 0;
}

int osmenc_json(weft_buf *out, const char *id, const sim_fix *f) {
    char ts[32];
    fleet_time_format(ts, f->t_ms);
    int rc = weft_buf_printf(out,
                             "{\"location\":{\"timestamp\":\"%s\",\"coords\":{\"latitude\":%.7f,"
                             "\"longitude\":%.7f,\"accuracy\":%d,\"speed\":%.2f,\"heading\":%.1f,"
                             "\"altitude\":%.1f},\"is_moving\":%s,\"odometer\":%.0f,"
                             "\"battery\":{\"level\":%.3f,\"is_charging\":%s},"
                             "\"activity\":{\"type\":\"%s\"}},\"device_id\":\"%s\"}",
                             ts, f->lat, f->lon, f->sats >= 9 ? 5 : 8, f->speed_kmh / 3.6,
                             f->course, f->altitude, f->moving ? "true" : "false", f->odometer_m,
                             f->battery_pct / 100, f->ignition ? "true" : "false",
                             f->moving ? "in_vehicle" : "still", id);
    return rc < 0 ? rc : 0;
}

int osmenc_request(weft_buf *out, osm_mode m, const char *host, int port, const char *id,
                   const sim_fix *f) {
    int rc;
    if (m == OSM_GET) {
        rc = weft_buf_appends(out, "GET /?");
        if (rc >= 0) rc = osmenc_form(out, id, f);
        if (rc >= 0)
            rc = weft_buf_printf(out, " HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: fleet-sim\r\n\r\n",
                                 host, port);
        return rc < 0 ? rc : 0;
    }
    weft_buf body;
    weft_buf_init(&body, 0);
    rc = m == OSM_POST_JSON ? osmenc_json(&body, id, f) : osmenc_form(&body, id, f);
    if (rc >= 0)
        rc = weft_buf_printf(out,
                             "POST / HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: fleet-sim\r\n"
                             "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                             host, port,
                             m == OSM_POST_JSON ? "application/json"
                                                : "application/x-www-form-urlencoded",
                             body.len);
    if (rc >= 0) rc = weft_buf_append(out, body.data, body.len);
    weft_buf_free(&body);
    return rc < 0 ? rc : 0;
}
