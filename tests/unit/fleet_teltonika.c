/*
 * tests/unit/fleet_teltonika.c — the Teltonika decoder (apps/fleet/teltonika.c)
 * against captures: the example packets of Teltonika's protocol documentation
 * and packets recorded from real devices that Traccar's public decoder tests
 * carry. Expected values were worked out by hand from the byte layout.
 */
#include <math.h>
#include <stdlib.h>

#include "test.h"
#include "teltonika.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
    size_t n = 0;
    for (; hex[0] && hex[1] && n < cap; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

typedef struct decoded {
    int rc;
    const char *why;
    tlt_packet pkt;
    fleet_fix fix[TLT_RECORDS_MAX];
    weft_buf attrs;
} decoded;

static decoded *decode_hex(const char *hex) {
    static uint8_t buf[8192];
    size_t n = unhex(hex, buf, sizeof buf);
    decoded *d = calloc(1, sizeof *d);
    weft_buf_init(&d->attrs, 0);
    d->why = "";
    const char *why = NULL;
    long size = tlt_frame(buf, n, TLT_PACKET_MAX, &why);
    if (size != (long)n) {
        d->rc = size < 0 ? (int)size : WEFT_EPARSE;
        d->why = why ? why : "frame size";
        return d;
    }
    d->rc = tlt_decode(buf, n, &d->pkt, d->fix, TLT_RECORDS_MAX, &d->attrs, &d->why);
    return d;
}
static void decoded_free(decoded *d) {
    weft_buf_free(&d->attrs);
    free(d);
}
static int attrs_have(const decoded *d, int i, const char *needle) {
    weft_str a = {d->attrs.data + d->fix[i].attr_off, d->fix[i].attr_len};
    size_t k = strlen(needle);
    for (size_t j = 0; j + k <= a.n; j++)
        if (memcmp(a.p + j, needle, k) == 0) return 1;
    return 0;
}

/* Teltonika's documented Codec 8 example 1: one record, no GPS, five IO values. */
TEST_PLAIN(codec8_documented_example) {
    decoded *d = decode_hex("000000000000003608010000016B40D8EA30010000000000000000000000000000000105021503"
                            "010101425E0F01F10000601A014E0000000000000000010000C7CF");
    ASSERT_EQ(d->rc, 1);
    ASSERT_EQ(d->pkt.codec, TLT_CODEC8);
    ASSERT_EQ(d->fix[0].fix_ms, 1560161086000LL); /* 2019-06-10 10:04:46 UTC */
    ASSERT_EQ(d->fix[0].sats, 0);
    ASSERT_EQ(d->fix[0].valid, 0); /* no satellites: not a real fix */
    ASSERT(fabs(d->fix[0].power_v - 24.079) < 1e-9);
    ASSERT(attrs_have(d, 0, "\"in1\":true"));
    ASSERT(attrs_have(d, 0, "\"rssi\":3"));
    ASSERT(attrs_have(d, 0, "\"operator\":24602"));
    ASSERT(attrs_have(d, 0, "\"driverUniqueId\":\"0000000000000000\""));
    ASSERT(attrs_have(d, 0, "\"event\":1"));
    decoded_free(d);
}

/* Teltonika's documented Codec 8 Extended example: 2-byte ids and counts. */
TEST_PLAIN(codec8e_documented_example) {
    decoded *d = decode_hex("000000000000004A8E010000016B412CEE0001000000000000000000000000000000000100050001"
                            "00010100010011001D00010010015E2C880002000B000000003544C87A000E000000001DD7E06A"
                            "00000100002994");
    ASSERT_EQ(d->rc, 1);
    ASSERT_EQ(d->pkt.codec, TLT_CODEC8E);
    ASSERT_EQ(d->fix[0].fix_ms, 1560166592000LL);
    ASSERT_EQ((long long)d->fix[0].odometer_m, 22949000); /* IO 16 */
    ASSERT(attrs_have(d, 0, "\"io17\":29"));
    ASSERT(attrs_have(d, 0, "\"io11\":893700218"));
    ASSERT(attrs_have(d, 0, "\"io14\":500686954"));
    decoded_free(d);
}

/* A real FMB device in Vienna (Traccar's decoder tests): position, speed,
 * motion, external voltage and odometer. */
TEST_PLAIN(codec8_real_device_vienna) {
    decoded *d = decode_hex("000000000000004c08010000016818d500580009c28d9f1cb3757a00be00c60f0053000f06f0011503"
                            "c80001011d00fc0007423799180053cdf80dce426f430f88190bb8560bb802f100005aa110002887"
                            "e000010000ee8d");
    ASSERT_EQ(d->rc, 1);
    fleet_fix *f = &d->fix[0];
    ASSERT(fabs(f->lon - 16.3745183) < 1e-9);
    ASSERT(fabs(f->lat - 48.1523066) < 1e-9);
    ASSERT_EQ((int)f->altitude, 190);
    ASSERT_EQ((int)f->course, 198);
    ASSERT_EQ(f->sats, 15);
    ASSERT_EQ(f->valid, 1);
    ASSERT(fabs(f->speed_kn - 83 / 1.852) < 1e-9);
    ASSERT_EQ(f->motion, 1);
    ASSERT_EQ(f->ignition, FLEET_UNKNOWN);
    ASSERT(fabs(f->power_v - 14.233) < 1e-9);
    ASSERT_EQ((long long)f->odometer_m, 2656224);
    ASSERT(attrs_have(d, 0, "\"obdSpeed\":83"));
    decoded_free(d);
}

/* A real Codec 8 Extended packet with a variable-length (NX) value. */
TEST_PLAIN(codec8e_real_device_variable_length) {
    decoded *d = decode_hex("00000000000000a38e0100000178b11c9e1000040bbbc91f03190c002100e1130013000000100006"
                            "00ef0100f00100150300c800004501001e070005004237e00018000a00ce166200430f970024059f"
                            "000300f10000665900c70000001e00100000a1b500000002010000115756315a5a5a32455a383630"
                            "31353338380119002950303239392c50303637352c50303637342c50303637322c50303637312c50"
                            "303437312c50324241430100001ad8");
    ASSERT_EQ(d->rc, 1);
    fleet_fix *f = &d->fix[0];
    ASSERT_EQ(f->ignition, 1);
    ASSERT_EQ(f->motion, 1);
    ASSERT_EQ(f->sats, 19);
    ASSERT(f->lat > 52 && f->lat < 53); /* 0x1f031 90c -> 52.0... */
    /* IO 256 (VIN, 17 bytes) kept as hex: "WV1ZZZ2EZ86015388" */
    ASSERT(attrs_have(d, 0, "\"io256\":\"5756315a5a5a32455a3836303135333838\""));
    decoded_free(d);
}

/* Several records in one packet: the count to acknowledge is theirs. */
TEST_PLAIN(codec8_many_records) {
    decoded *d = decode_hex("000000000000009f080400000159738f76b8012e13b796110ab27600d700000b00004e0100000001"
                            "4e000000000000000000000159738f6ee8012e13b796110ab27600d700000a00004e0100000001"
                            "4e01000b00791c179300000159738f6b00012e13b796110ab27600d700000a00004e0100000001"
                            "4e000000000000000000000159738f5f48012e13b796110ab27600d700000b00004e0100000001"
                            "4e01000b00791c17930400009671");
    ASSERT_EQ(d->rc, 4);
    ASSERT_EQ(d->pkt.count, 4);
    ASSERT(d->fix[0].fix_ms > d->fix[1].fix_ms); /* devices send newest first */
    for (int i = 0; i < 4; i++) ASSERT(d->fix[i].attr_len > 2);
    uint8_t ack[4];
    tlt_ack(ack, 4);
    ASSERT(ack[0] == 0 && ack[1] == 0 && ack[2] == 0 && ack[3] == 4);
    decoded_free(d);
}

/* Traccar's capture marked "invalid length and checksum": no ack. */
TEST_PLAIN(codec8_bad_length_and_crc_rejected) {
    decoded *d = decode_hex("0000000000000000080100000113fc208dff00209cca800f14f650006f00d60400040004030101"
                            "150316030001460000015d000100000000");
    ASSERT(d->rc < 0);
    decoded_free(d);
}

TEST_PLAIN(crc_mismatch_rejected) {
    /* documented example 1 with one byte of the IO values changed */
    decoded *d = decode_hex("000000000000003608010000016B40D8EA30010000000000000000000000000000000105021503"
                            "010101425E0F01F10000601B014E0000000000000000010000C7CF");
    ASSERT_ERR(d->rc, WEFT_EPARSE);
    ASSERT(strstr(d->why, "CRC"));
    decoded_free(d);
}

/* A record whose IO count claims more than the packet holds: the CRC is
 * right (recomputed), so only the bounds checks stand in the way. */
TEST_PLAIN(record_overrun_rejected_with_valid_crc) {
    uint8_t b[128];
    size_t n = unhex("000000000000003608010000016B40D8EA30010000000000000000000000000000000105FF1503"
                     "010101425E0F01F10000601A014E0000000000000000010000C7CF",
                     b, sizeof b);
    uint16_t crc = tlt_crc16(b + 8, n - 12);
    b[n - 2] = (uint8_t)(crc >> 8), b[n - 1] = (uint8_t)crc;
    tlt_packet pk;
    fleet_fix fx[4];
    weft_buf a;
    weft_buf_init(&a, 0);
    const char *why = NULL;
    ASSERT_ERR(tlt_decode(b, n, &pk, fx, 4, &a, &why), WEFT_EPARSE);
    ASSERT(why != NULL);
    weft_buf_free(&a);
}

TEST_PLAIN(other_codecs_not_supported) {
    /* Codec 12 (a command reply, Traccar's capture) and Codec 16 */
    decoded *d = decode_hex("00000000000000100C010600000008010300010015D5C5010000D988");
    ASSERT_ERR(d->rc, WEFT_ENOTSUP);
    decoded_free(d);
    /* Codec 16 as Traccar's test captured it: its CRC field does not match
     * (Traccar does not check it), so it is refused for that first; with the
     * CRC recomputed it is refused for its codec. */
    static const char c16[] = "000000000000009D10020000013feb55ff74000f0ea850209a690000AE00B90B00000000070A0500"
                              "01000002000003000004000120000200180000004601290200C700000000004C0000000001003E00"
                              "000000000000000000015B198C7498000F0DBC502095872F00AE00B90B00000000070A0500010000"
                              "02000003000004000120000200180000004601290200C700000000004C0000000001003E00000000"
                              "0000000002000009A5";
    d = decode_hex(c16);
    ASSERT_ERR(d->rc, WEFT_EPARSE);
    ASSERT(strstr(d->why, "CRC"));
    decoded_free(d);
    uint8_t b[256];
    size_t n = unhex(c16, b, sizeof b);
    uint16_t crc = tlt_crc16(b + 8, n - 12);
    b[n - 2] = (uint8_t)(crc >> 8), b[n - 1] = (uint8_t)crc;
    tlt_packet pk;
    fleet_fix fx[4];
    weft_buf a;
    weft_buf_init(&a, 0);
    const char *why = NULL;
    ASSERT_ERR(tlt_decode(b, n, &pk, fx, 4, &a, &why), WEFT_ENOTSUP);
    weft_buf_free(&a);
}

TEST_PLAIN(more_records_than_room) {
    uint8_t b[256];
    size_t n = unhex("000000000000009f080400000159738f76b8012e13b796110ab27600d700000b00004e0100000001"
                     "4e000000000000000000000159738f6ee8012e13b796110ab27600d700000a00004e0100000001"
                     "4e01000b00791c179300000159738f6b00012e13b796110ab27600d700000a00004e0100000001"
                     "4e000000000000000000000159738f5f48012e13b796110ab27600d700000b00004e0100000001"
                     "4e01000b00791c17930400009671",
                     b, sizeof b);
    tlt_packet pk;
    fleet_fix fx[3];
    weft_buf a;
    weft_buf_init(&a, 0);
    const char *why = NULL;
    ASSERT_ERR(tlt_decode(b, n, &pk, fx, 3, &a, &why), WEFT_ELIMIT);
    ASSERT_EQ(a.len, 0);
    weft_buf_free(&a);
}

TEST_PLAIN(login_frames) {
    char imei[TLT_IMEI_MAX + 1];
    const char *why = NULL;
    uint8_t ok[] = {0x00, 0x0F, '3', '5', '6', '3', '0', '7', '0', '4', '2', '4', '4', '1', '0', '1', '3'};
    ASSERT_EQ(tlt_login(ok, sizeof ok, imei, &why), 17);
    ASSERT(strcmp(imei, "356307042441013") == 0);
    for (size_t k = 0; k < sizeof ok; k++) ASSERT_EQ(tlt_login(ok, k, imei, &why), 0); /* partial */
    uint8_t long_len[] = {0x00, 0x40, '1'};
    ASSERT_ERR(tlt_login(long_len, sizeof long_len, imei, &why), WEFT_EPARSE);
    uint8_t zero_len[] = {0x00, 0x00};
    ASSERT_ERR(tlt_login(zero_len, sizeof zero_len, imei, &why), WEFT_EPARSE);
    uint8_t letters[] = {0x00, 0x03, '1', 'x', '3'};
    ASSERT_ERR(tlt_login(letters, sizeof letters, imei, &why), WEFT_EPARSE);
    ASSERT(strstr(why, "digits"));
}

TEST_PLAIN(frame_lengths_bounded_before_use) {
    const char *why = NULL;
    uint8_t hdr[8] = {0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF};
    ASSERT_ERR(tlt_frame(hdr, 8, TLT_PACKET_MAX, &why), WEFT_ELIMIT);
    uint8_t pre[8] = {0, 0, 1, 0, 0, 0, 0, 0x36};
    ASSERT_ERR(tlt_frame(pre, 8, TLT_PACKET_MAX, &why), WEFT_EPARSE);
    uint8_t small[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    ASSERT_ERR(tlt_frame(small, 8, TLT_PACKET_MAX, &why), WEFT_ELIMIT);
    uint8_t good[8] = {0, 0, 0, 0, 0, 0, 0, 0x36};
    ASSERT_EQ(tlt_frame(good, 7, TLT_PACKET_MAX, &why), 0);
    ASSERT_EQ(tlt_frame(good, 8, TLT_PACKET_MAX, &why), 0x36 + 12);
}

/* CRC-16/ARC's check value: "123456789" -> 0xBB3D. */
TEST_PLAIN(crc16_arc_check_value) { ASSERT_EQ(tlt_crc16((const uint8_t *)"123456789", 9), 0xBB3D); }

/* The table-driven CRC against the bit-at-a-time definition it replaced. */
static uint16_t crc16_bitwise(const uint8_t *p, size_t n) {
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}
TEST_PLAIN(crc16_table_matches_bitwise) {
    uint8_t b[600];
    uint64_t x = 88172645463325252u;
    for (size_t i = 0; i < sizeof b; i++) x ^= x << 13, x ^= x >> 7, x ^= x << 17, b[i] = (uint8_t)x;
    for (unsigned v = 0; v < 256; v++) { /* every table entry */
        uint8_t one = (uint8_t)v;
        ASSERT_EQ(tlt_crc16(&one, 1), crc16_bitwise(&one, 1));
    }
    for (size_t n = 0; n <= sizeof b; n += 7) ASSERT_EQ(tlt_crc16(b, n), crc16_bitwise(b, n));
}

/* What tlt_encode writes, tlt_decode reads back to the same values. */
TEST_PLAIN(encode_decode_round_trip) {
    fleet_fix in[40];
    for (int i = 0; i < 40; i++) {
        fleet_fix_init(&in[i]);
        in[i].fix_ms = 1700000000000LL + i * 1000;
        in[i].lat = 52.5 + i * 1e-4, in[i].lon = -13.4 - i * 1e-4;
        in[i].speed_kn = 27, in[i].course = i * 9, in[i].altitude = -20 + i;
        in[i].valid = 1, in[i].sats = 11;
        in[i].ignition = i % 2, in[i].motion = 1;
        in[i].power_v = 12.5, in[i].odometer_m = 1000000 + i * 15;
        in[i].battery_pct = 80;
    }
    weft_buf b;
    weft_buf_init(&b, 0);
    int n = tlt_encode(in, 40, TLT_CODEC8E, &b);
    ASSERT(n > 0);
    const char *why = NULL;
    ASSERT_EQ(tlt_frame((const uint8_t *)b.data, b.len, TLT_PACKET_MAX, &why), (long)b.len);
    tlt_packet pk;
    fleet_fix out[40];
    weft_buf a;
    weft_buf_init(&a, 0);
    ASSERT_EQ(tlt_decode((const uint8_t *)b.data, b.len, &pk, out, 40, &a, &why), 40);
    ASSERT_EQ(pk.codec, TLT_CODEC8E);
    for (int i = 0; i < 40; i++) {
        ASSERT_EQ(out[i].fix_ms, in[i].fix_ms);
        ASSERT(fabs(out[i].lat - in[i].lat) < 1e-7 && fabs(out[i].lon - in[i].lon) < 1e-7);
        ASSERT(fabs(out[i].speed_kn - 50 / 1.852) < 1e-9); /* 27 kn -> 50 km/h on the wire */
        ASSERT_EQ((int)out[i].course, i * 9);
        ASSERT_EQ((int)out[i].altitude, -20 + i);
        ASSERT_EQ(out[i].ignition, i % 2);
        ASSERT(fabs(out[i].power_v - 12.5) < 1e-9);
        ASSERT_EQ((long long)out[i].odometer_m, 1000000 + i * 15);
        ASSERT_EQ((int)out[i].battery_pct, 80);
    }
    ASSERT_ERR(tlt_encode(in, 0, TLT_CODEC8E, &b), WEFT_EINVAL);
    weft_buf_free(&a);
    weft_buf_free(&b);
}

/* A value sent in thousandths is divided, not multiplied by 0.001: the
 * attribute and the fix hold the double nearest the decimal meant (9 mV is
 * 0.009 V; 9 * 0.001 was 0.009000000000000001). */
TEST_PLAIN(scaled_io_values_are_the_decimal_sent) {
    static const double volts[] = {0.009, 0.013, 12.345, 24.079, 14.233, 0.3};
    static const char *text[] = {"\"power\":0.009}", "\"power\":0.013}", "\"power\":12.345}",
                                 "\"power\":24.079}", "\"power\":14.233}", "\"power\":0.3}"};
    for (size_t i = 0; i < sizeof volts / sizeof volts[0]; i++) {
        fleet_fix in;
        fleet_fix_init(&in);
        in.fix_ms = 1700000000000LL, in.lat = 48.2, in.lon = 16.37, in.valid = 1, in.power_v = volts[i];
        weft_buf b;
        weft_buf_init(&b, 0);
        ASSERT(tlt_encode(&in, 1, TLT_CODEC8, &b) > 0);
        tlt_packet pk;
        fleet_fix out[1];
        weft_buf attrs;
        weft_buf_init(&attrs, 0);
        const char *why = NULL;
        ASSERT_EQ(tlt_decode((const uint8_t *)b.data, b.len, &pk, out, 1, &attrs, &why), 1);
        ASSERT(out[0].power_v == volts[i]);
        ASSERT(attrs.data && strstr(attrs.data, text[i]));
        weft_buf_free(&attrs);
        weft_buf_free(&b);
    }
}
