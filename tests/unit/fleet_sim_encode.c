/*
 * tests/unit/fleet_sim_encode.c — the simulator's wire formats read back by
 * the server's own decoders: Teltonika packets (apps/fleet-sim/encode.c)
 * through tlt_frame/tlt_decode (apps/fleet/teltonika.c), OsmAnd requests
 * through weft's request parser and osmand_parse_form/osmand_parse_json;
 * and the simulator's HTTP response-head parser (apps/fleet-sim/httpc.c).
 */
#include <math.h>
#include <stdlib.h>

#include "test.h"
#include "encode.h"
#include "httpc.h"
#include "osmand.h"
#include "teltonika.h"
#include "weft/http.h"

/* Run a checking helper; stop the test if it failed. */
#define CHECK(call)                                                                                \
    do {                                                                                           \
        call;                                                                                      \
        if (test__failed()) return;                                                                \
    } while (0)

static sim_fix sample_fix(int i) {
    sim_fix f;
    memset(&f, 0, sizeof f);
    f.t_ms = 1700000000123LL + i * 1000;
    f.lat = 48.2084912 + i * 1e-4, f.lon = 16.3730845 - i * 1e-4;
    f.speed_kmh = 40 + i; /* whole km/h: Teltonika carries no fraction */
    f.course = (90 * i + 1) % 360;
    f.altitude = 170 + i;
    f.ignition = i % 3 != 2, f.moving = i % 2;
    f.sats = 9, f.gsm = 4;
    f.odometer_m = 123456 + 500 * i;
    f.power_v = f.ignition ? 13.95 : 12.5;
    f.battery_pct = 80 + i % 20;
    f.unplug = i == 2;
    return f;
}

static void decode_roundtrip(int codec, int n) {
    sim_fix in[TLT_RECORDS_MAX];
    for (int i = 0; i < n; i++) in[i] = sample_fix(i);
    weft_buf pkt, attrs;
    weft_buf_init(&pkt, 0), weft_buf_init(&attrs, 0);
    ASSERT_EQ(tltenc_packet(&pkt, codec, in, n), 0);
    const char *why = "";
    long size = tlt_frame((const uint8_t *)pkt.data, pkt.len, TLT_PACKET_MAX, &why);
    ASSERT_EQ(size, (long)pkt.len);
    static fleet_fix out[TLT_RECORDS_MAX];
    tlt_packet p;
    int rc = tlt_decode((const uint8_t *)pkt.data, pkt.len, &p, out, TLT_RECORDS_MAX, &attrs, &why);
    if (rc < 0) printf("tlt_decode: %s\n", why);
    ASSERT_EQ(rc, n);
    ASSERT_EQ(p.count, n);
    ASSERT_EQ(p.codec, codec);
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(out[i].fix_ms, in[i].t_ms);
        ASSERT(fabs(out[i].lat - in[i].lat) < 1e-7);
        ASSERT(fabs(out[i].lon - in[i].lon) < 1e-7);
        ASSERT(fabs(out[i].speed_kn - FLEET_KMH_TO_KN(in[i].speed_kmh)) < 1e-9);
        ASSERT_EQ((int)out[i].course, (int)in[i].course);
        ASSERT_EQ((int)out[i].altitude, (int)in[i].altitude);
        ASSERT_EQ(out[i].sats, 9);
        ASSERT_EQ(out[i].valid, 1);
        ASSERT_EQ(out[i].ignition, in[i].ignition);
        ASSERT_EQ(out[i].motion, in[i].moving);
        ASSERT_EQ((long long)out[i].odometer_m, (long long)in[i].odometer_m);
        ASSERT(fabs(out[i].power_v - in[i].power_v) < 1e-9);
        ASSERT_EQ((int)out[i].battery_pct, (int)in[i].battery_pct);
        ASSERT_EQ(!!(out[i].alarms & FLEET_ALARM_POWER_CUT), in[i].unplug);
    }
    /* the CRC is real: one flipped bit and the decoder refuses the packet */
    pkt.data[20] ^= 0x10;
    ASSERT_ERR(
        tlt_decode((const uint8_t *)pkt.data, pkt.len, &p, out, TLT_RECORDS_MAX, &attrs, &why),
        WEFT_EPARSE);
    weft_buf_free(&pkt), weft_buf_free(&attrs);
}

TEST_PLAIN(teltonika_codec8e_decodes_to_the_same_values) {
    CHECK(decode_roundtrip(TLT_CODEC8E, 1));
    CHECK(decode_roundtrip(TLT_CODEC8E, 5));
    CHECK(decode_roundtrip(TLT_CODEC8E, TLT_RECORDS_MAX));
}

TEST_PLAIN(teltonika_codec8_decodes_to_the_same_values) {
    CHECK(decode_roundtrip(TLT_CODEC8, 1));
    CHECK(decode_roundtrip(TLT_CODEC8, 50));
}

TEST_PLAIN(teltonika_encoder_refuses_what_the_protocol_cannot_carry) {
    sim_fix f = sample_fix(0);
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT_ERR(tltenc_packet(&b, TLT_CODEC8E, &f, 0), WEFT_EINVAL);
    ASSERT_ERR(tltenc_packet(&b, TLT_CODEC8E, &f, 256), WEFT_EINVAL);
    ASSERT_ERR(tltenc_packet(&b, 0x0C, &f, 1), WEFT_EINVAL);
    ASSERT_EQ(b.len, 0);
    weft_buf_free(&b);
}

TEST_PLAIN(teltonika_login_reads_back) {
    uint8_t buf[32];
    size_t n = tltenc_login(buf, sizeof buf, "356000000000002");
    ASSERT_EQ(n, 17);
    char imei[TLT_IMEI_MAX + 1];
    const char *why = "";
    ASSERT_EQ(tlt_login(buf, n, imei, &why), 17);
    ASSERT_STREQ(imei, "356000000000002");
    ASSERT_EQ(tltenc_login(buf, sizeof buf, ""), 0);
    ASSERT_EQ(tltenc_login(buf, sizeof buf, "123456789012345678"), 0); /* 18 > 17 */
    ASSERT_EQ(tltenc_login(buf, 10, "356000000000002"), 0);
}

static void check_osmand_fix(const fleet_fix *got, const sim_fix *in, int json) {
    ASSERT_EQ(got->fix_ms, in->t_ms);
    ASSERT(fabs(got->lat - in->lat) < 1e-7);
    ASSERT(fabs(got->lon - in->lon) < 1e-7);
    ASSERT(fabs(got->speed_kn - in->speed_kmh / 1.852) < 0.01);
    ASSERT(fabs(got->course - in->course) < 0.05);
    ASSERT(fabs(got->altitude - in->altitude) < 0.05);
    ASSERT(fabs(got->battery_pct - in->battery_pct) < 0.1);
    if (!json) ASSERT_EQ(got->ignition, in->ignition);
    if (json) ASSERT_EQ(got->motion, in->moving);
}

TEST_PLAIN(osmand_form_parses_to_the_same_values) {
    for (int i = 0; i < 4; i++) {
        sim_fix f = sample_fix(i);
        weft_buf form, attrs;
        weft_buf_init(&form, 0), weft_buf_init(&attrs, 0);
        ASSERT_EQ(osmenc_form(&form, "sim-0001", &f), 0);
        weft_arena a;
        weft_arena_init(&a, 0);
        osmand_msg m;
        fleet_fix got;
        const char *why = "";
        weft_str s = {form.data, form.len};
        /* as a query string, then as a form body */
        int rc = osmand_parse_form(s, (weft_str){"", 0}, 1, &m, &got, &attrs, &a, &why);
        if (rc) printf("osmand_parse_form: %s\n", why);
        ASSERT_EQ(rc, 0);
        ASSERT_STREQ(m.device_id, "sim-0001");
        CHECK(check_osmand_fix(&got, &f, 0));
        ASSERT_EQ(osmand_parse_form((weft_str){"", 0}, s, 1, &m, &got, &attrs, &a, &why), 0);
        CHECK(check_osmand_fix(&got, &f, 0));
        /* the unplug alarm travels as alarm=powerCut */
        ASSERT_EQ(!!(got.alarms & FLEET_ALARM_POWER_CUT), f.unplug);
        weft_arena_free(&a);
        weft_buf_free(&form), weft_buf_free(&attrs);
    }
}

TEST_PLAIN(osmand_json_parses_to_the_same_values) {
    sim_fix f = sample_fix(1);
    weft_buf body, attrs;
    weft_buf_init(&body, 0), weft_buf_init(&attrs, 0);
    ASSERT_EQ(osmenc_json(&body, "sim-0007", &f), 0);
    weft_arena a;
    weft_arena_init(&a, 0);
    osmand_msg m;
    fleet_fix got[2];
    const char *why = "";
    int rc = osmand_parse_json((weft_str){body.data, body.len}, 1, &m, got, 2, &attrs, &a, &why);
    if (rc) printf("osmand_parse_json: %s\n%s\n", why, body.data);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(m.nfix, 1);
    ASSERT_STREQ(m.device_id, "sim-0007");
    CHECK(check_osmand_fix(&got[0], &f, 1));
    weft_arena_free(&a);
    weft_buf_free(&body), weft_buf_free(&attrs);
}

/* The whole request, as the server's HTTP parser reads it, then its parameters. */
static void request_roundtrip(osm_mode mode) {
    sim_fix f = sample_fix(3);
    weft_buf req, attrs;
    weft_buf_init(&req, 0), weft_buf_init(&attrs, 0);
    ASSERT_EQ(osmenc_request(&req, mode, "127.0.0.1", 5055, "sim-0042", &f), 0);
    weft_http_request r;
    weft_http_header hdrs[32];
    int status = 0;
    const char *reason = "";
    int h = weft_http_parse_request(req.data, req.len, &r, hdrs, 32, NULL, &status, &reason);
    if (h < 0) printf("parse: %d %s\n", status, reason);
    ASSERT_GT(h, 0);
    ASSERT(r.keep_alive);
    ASSERT(weft_str_eq(r.path, WEFT_STR("/")));
    weft_str body = {req.data + h, req.len - (size_t)h};
    if (mode == OSM_GET) {
        ASSERT(weft_str_eq(r.method, WEFT_STR("GET")));
        ASSERT_EQ(body.n, 0);
    } else {
        ASSERT(weft_str_eq(r.method, WEFT_STR("POST")));
        ASSERT_EQ(r.content_length, (int64_t)body.n);
    }
    weft_arena a;
    weft_arena_init(&a, 0);
    osmand_msg m;
    fleet_fix got[1];
    const char *why = "";
    int rc = mode == OSM_POST_JSON ? osmand_parse_json(body, 1, &m, got, 1, &attrs, &a, &why)
                                   : osmand_parse_form(r.query, body, 1, &m, got, &attrs, &a, &why);
    ASSERT_EQ(rc, 0);
    ASSERT_STREQ(m.device_id, "sim-0042");
    CHECK(check_osmand_fix(&got[0], &f, mode == OSM_POST_JSON));
    weft_arena_free(&a);
    weft_buf_free(&req), weft_buf_free(&attrs);
}

TEST_PLAIN(osmand_requests_parse_as_http_then_as_osmand) {
    CHECK(request_roundtrip(OSM_GET));
    CHECK(request_roundtrip(OSM_POST_FORM));
    CHECK(request_roundtrip(OSM_POST_JSON));
}

static int head(const char *s, httpc_resp *r, const char **why) {
    return httpc_parse_head(s, strlen(s), HTTPC_HEAD_MAX, r, why);
}

TEST_PLAIN(http_response_heads) {
    httpc_resp r;
    const char *why = "";
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: x\r\n\r\nok";
    ASSERT_EQ(head(ok, &r, &why), (int)strlen(ok) - 2);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.content_length, 2);
    ASSERT_EQ(r.keep_alive, 1);
    ASSERT_EQ(r.chunked, 0);
    /* every prefix of an incomplete head asks for more */
    for (size_t n = 0; n < strlen(ok) - 2; n++)
        ASSERT_EQ(httpc_parse_head(ok, n, HTTPC_HEAD_MAX, &r, &why), 0);
    ASSERT(head("HTTP/1.0 400 Bad Request\r\nContent-Length: 14\r\n\r\n", &r, &why) > 0);
    ASSERT_EQ(r.status, 400);
    ASSERT_EQ(r.keep_alive, 0); /* 1.0 without keep-alive */
    ASSERT(head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", &r,
                &why) > 0);
    ASSERT_EQ(r.keep_alive, 1);
    ASSERT(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", &r,
                &why) > 0);
    ASSERT_EQ(r.chunked, 1);
    ASSERT_EQ(r.keep_alive, 0);
    ASSERT(head("HTTP/1.1 200 OK\r\n\r\n", &r, &why) > 0);
    ASSERT_EQ(r.keep_alive, 0); /* body until close */
    ASSERT(head("HTTP/1.1 204 No Content\r\n\r\n", &r, &why) > 0);
    ASSERT_EQ(r.keep_alive, 1);
    ASSERT(head("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", &r, &why) > 0); /* no reason phrase */
    ASSERT(head("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999\r\n\r\n", &r, &why) > 0);
    ASSERT_EQ(r.content_length, 999999999999999); /* the largest taken; the body limit is later */

    const char *bad[] = {
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\rX\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000\r\n\r\n", /* 10^15 */
        "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551618\r\n\r\n", /* 2^64 + 2 */
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\n : empty name\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        ASSERT_ERR(head(bad[i], &r, &why), WEFT_EPARSE);
        ASSERT(why != NULL);
    }
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    ASSERT_ERR(httpc_parse_head(big, sizeof big, 256, &r, &why), WEFT_ELIMIT);
}
