/*
 * apps/fleet-sim/encode.c — device wire formats (encode.h).
 */
#include "encode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fix.h"
#include "isotime.h"
#include "teltonika.h"

size_t tltenc_login(uint8_t *out, size_t cap, const char *imei) {
    size_t n = strlen(imei);
    if (n == 0 || n > TLT_IMEI_MAX || cap < n + 2) return 0;
    out[0] = (uint8_t)(n >> 8), out[1] = (uint8_t)n;
    memcpy(out + 2, imei, n);
    return n + 2;
}

int tltenc_packet(weft_buf *out, int codec, const sim_fix *fixes, int n) {
    if (n < 1 || n > TLT_RECORDS_MAX) return WEFT_EINVAL;
    fleet_fix *fx = malloc((size_t)n * sizeof *fx); /* 255 of them would not fit a small task stack */
    if (!fx) return WEFT_ENOMEM;
    for (int i = 0; i < n; i++) { /* the server's encoder (teltonika.c) writes the bytes */
        const sim_fix *f = &fixes[i];
        fleet_fix_init(&fx[i]);
        fx[i].fix_ms = f->t_ms;
        fx[i].lat = f->lat, fx[i].lon = f->lon;
        fx[i].speed_kn = f->speed_kmh / 1.852;
        fx[i].course = f->course, fx[i].altitude = f->altitude;
        fx[i].sats = f->sats, fx[i].valid = f->sats > 0;
        fx[i].ignition = f->ignition != 0, fx[i].motion = f->moving != 0, fx[i].rssi = f->gsm;
        fx[i].battery_pct = f->battery_pct, fx[i].power_v = f->power_v, fx[i].odometer_m = f->odometer_m;
        if (f->unplug) fx[i].alarms |= FLEET_ALARM_POWER_CUT;
    }
    int rc = tlt_encode(fx, n, codec, out);
    free(fx);
    return rc < 0 ? rc : 0;
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
