/*
 * apps/fleet/teltonika.c — Teltonika Codec 8 / 8 Extended decoder (see
 * teltonika.h for the wire format). A cursor walks the packet; every read
 * goes through need(), so a length field can never take the cursor past the
 * packet, whatever the device (or a fuzzer) sends.
 */
#include "teltonika.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "weft/json.h"

typedef struct cur {
    const uint8_t *p, *end;
    int bad; /* a read ran past the end: every later read yields 0 */
} cur;

static int need(cur *c, size_t n) {
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return 0;
    }
    return 1;
}
static uint64_t rd(cur *c, size_t n) { /* big-endian, n <= 8 */
    if (!need(c, n)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | c->p[i];
    c->p += n;
    return v;
}

/* CRC-16/ARC (reflected 0x8005, i.e. 0xA001), a byte at a time: entry v
 * is the eight bit steps applied to v (generated; the unit test
 * crc16_table_matches_bitwise recomputes it). The bit loop was ~8 % of a
 * fix's decode. */
static const uint16_t crc_table[256] = {
    0x0000, 0xC0C1, 0xC181, 0x0140, 0xC301, 0x03C0, 0x0280, 0xC241, 0xC601, 0x06C0, 0x0780, 0xC741,
    0x0500, 0xC5C1, 0xC481, 0x0440, 0xCC01, 0x0CC0, 0x0D80, 0xCD41, 0x0F00, 0xCFC1, 0xCE81, 0x0E40,
    0x0A00, 0xCAC1, 0xCB81, 0x0B40, 0xC901, 0x09C0, 0x0880, 0xC841, 0xD801, 0x18C0, 0x1980, 0xD941,
    0x1B00, 0xDBC1, 0xDA81, 0x1A40, 0x1E00, 0xDEC1, 0xDF81, 0x1F40, 0xDD01, 0x1DC0, 0x1C80, 0xDC41,
    0x1400, 0xD4C1, 0xD581, 0x1540, 0xD701, 0x17C0, 0x1680, 0xD641, 0xD201, 0x12C0, 0x1380, 0xD341,
    0x1100, 0xD1C1, 0xD081, 0x1040, 0xF001, 0x30C0, 0x3180, 0xF141, 0x3300, 0xF3C1, 0xF281, 0x3240,
    0x3600, 0xF6C1, 0xF781, 0x3740, 0xF501, 0x35C0, 0x3480, 0xF441, 0x3C00, 0xFCC1, 0xFD81, 0x3D40,
    0xFF01, 0x3FC0, 0x3E80, 0xFE41, 0xFA01, 0x3AC0, 0x3B80, 0xFB41, 0x3900, 0xF9C1, 0xF881, 0x3840,
    0x2800, 0xE8C1, 0xE981, 0x2940, 0xEB01, 0x2BC0, 0x2A80, 0xEA41, 0xEE01, 0x2EC0, 0x2F80, 0xEF41,
    0x2D00, 0xEDC1, 0xEC81, 0x2C40, 0xE401, 0x24C0, 0x2580, 0xE541, 0x2700, 0xE7C1, 0xE681, 0x2640,
    0x2200, 0xE2C1, 0xE381, 0x2340, 0xE101, 0x21C0, 0x2080, 0xE041, 0xA001, 0x60C0, 0x6180, 0xA141,
    0x6300, 0xA3C1, 0xA281, 0x6240, 0x6600, 0xA6C1, 0xA781, 0x6740, 0xA501, 0x65C0, 0x6480, 0xA441,
    0x6C00, 0xACC1, 0xAD81, 0x6D40, 0xAF01, 0x6FC0, 0x6E80, 0xAE41, 0xAA01, 0x6AC0, 0x6B80, 0xAB41,
    0x6900, 0xA9C1, 0xA881, 0x6840, 0x7800, 0xB8C1, 0xB981, 0x7940, 0xBB01, 0x7BC0, 0x7A80, 0xBA41,
    0xBE01, 0x7EC0, 0x7F80, 0xBF41, 0x7D00, 0xBDC1, 0xBC81, 0x7C40, 0xB401, 0x74C0, 0x7580, 0xB541,
    0x7700, 0xB7C1, 0xB681, 0x7640, 0x7200, 0xB2C1, 0xB381, 0x7340, 0xB101, 0x71C0, 0x7080, 0xB041,
    0x5000, 0x90C1, 0x9181, 0x5140, 0x9301, 0x53C0, 0x5280, 0x9241, 0x9601, 0x56C0, 0x5780, 0x9741,
    0x5500, 0x95C1, 0x9481, 0x5440, 0x9C01, 0x5CC0, 0x5D80, 0x9D41, 0x5F00, 0x9FC1, 0x9E81, 0x5E40,
    0x5A00, 0x9AC1, 0x9B81, 0x5B40, 0x9901, 0x59C0, 0x5880, 0x9841, 0x8801, 0x48C0, 0x4980, 0x8941,
    0x4B00, 0x8BC1, 0x8A81, 0x4A40, 0x4E00, 0x8EC1, 0x8F81, 0x4F40, 0x8D01, 0x4DC0, 0x4C80, 0x8C41,
    0x4400, 0x84C1, 0x8581, 0x4540, 0x8701, 0x47C0, 0x4680, 0x8641, 0x8201, 0x42C0, 0x4380, 0x8341,
    0x4100, 0x81C1, 0x8081, 0x4040,
};

uint16_t tlt_crc16(const uint8_t *p, size_t n) {
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) crc = (uint16_t)(crc >> 8 ^ crc_table[(crc ^ p[i]) & 0xFF]);
    return crc;
}

void tlt_ack(uint8_t out[4], uint32_t n) {
    out[0] = (uint8_t)(n >> 24), out[1] = (uint8_t)(n >> 16), out[2] = (uint8_t)(n >> 8),
    out[3] = (uint8_t)n;
}

int tlt_login(const uint8_t *p, size_t n, char imei[TLT_IMEI_MAX + 1], const char **why) {
    if (n < 2) return 0;
    size_t len = (size_t)p[0] << 8 | p[1];
    if (len == 0 || len > TLT_IMEI_MAX) {
        *why = "IMEI length out of range";
        return WEFT_EPARSE;
    }
    if (n < 2 + len) return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[2 + i] < '0' || p[2 + i] > '9') {
            *why = "IMEI is not all digits";
            return WEFT_EPARSE;
        }
        imei[i] = (char)p[2 + i];
    }
    imei[len] = 0;
    return (int)(2 + len);
}

long tlt_frame(const uint8_t *p, size_t n, size_t max, const char **why) {
    if (n < 8) return 0;
    if (p[0] | p[1] | p[2] | p[3]) {
        *why = "AVL packet without its zero preamble";
        return WEFT_EPARSE;
    }
    uint64_t len = (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 | (uint64_t)p[6] << 8 | p[7];
    /* codec, two counts and at least one record's timestamp */
    if (len < 3 || len + 12 > max) {
        *why = len < 3 ? "AVL data length too small" : "AVL data length over the limit";
        return WEFT_ELIMIT;
    }
    return (long)(len + 12);
}

/* ---- IO elements -------------------------------------------------------
 * The ones the pipeline reasons about, and the names Traccar gives them (so
 * apps written against Traccar read our attributes). Anything else is kept
 * as "io<id>". Values scaled as the device documentation specifies. */
typedef struct io_name {
    uint16_t id;
    const char *name;
    double div; /* 0: integer as sent; 1: boolean; else sent in 1/div units (mV: 1000) */
} io_name;

static const io_name io_names[] = {
    {1, "in1", 1},          {2, "in2", 1},          {3, "in3", 1},
    {9, "adc1", 1000},      {16, "odometer", 0},    {21, "rssi", 0},
    {24, "obdSpeed", 0},    {66, "power", 1000},    {67, "battery", 1000},
    {68, "batteryCurrent", 1000},                   {69, "gnssStatus", 0},
    {78, "driverUniqueId", 0},                      {113, "batteryLevel", 0},
    {179, "out1", 1},       {180, "out2", 1},       {181, "pdop", 10},
    {182, "hdop", 10},      {199, "tripOdometer", 0}, {200, "sleepMode", 0},
    {239, "ignition", 1},   {240, "motion", 1},     {241, "operator", 0},
};

static const io_name *io_lookup(unsigned id) {
    for (size_t i = 0; i < sizeof io_names / sizeof io_names[0]; i++)
        if (io_names[i].id == id) return &io_names[i];
    return NULL;
}

/* One IO value of `size` bytes (1, 2, 4, 8) into the fix and the attributes. */
static void io_value(weft_json_enc *e, fleet_fix *f, unsigned id, uint64_t raw, size_t size) {
    (void)size;
    int64_t v = (int64_t)raw; /* 1..4-byte values are unsigned; 8-byte ones as sent */
    const io_name *nm = io_lookup(id);
    char key[2 + WEFT_I64_TEXT_MAX];
    if (nm) {
        weft_json_enc_key(e, weft_str_c(nm->name));
    } else { /* "io<id>" */
        key[0] = 'i', key[1] = 'o';
        weft_json_enc_key(e, (weft_str){key, 2 + weft_i64_to_text(key + 2, id)});
    }
    if (nm && nm->div == 1) {
        weft_json_enc_bool(e, v != 0);
    } else if (nm && nm->id == 78) { /* iButton: the driver's key, as hex */
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)raw);
        weft_json_enc_str(e, weft_str_c(hex));
    } else if (nm && nm->div != 0) {
        /* divided, not multiplied by 0.001: the quotient is the double
         * nearest the decimal the device meant (12345 mV -> 12.345, 3 ->
         * 0.3), which prints short; 3 * 0.1 was 0.30000000000000004, and
         * such values took the encoder's slow printf/strtod path */
        weft_json_enc_double(e, (double)v / nm->div);
    } else {
        weft_json_enc_int(e, v);
    }
    switch (id) {
    case 239: f->ignition = v != 0; break;
    case 240: f->motion = v != 0; break;
    case 66: f->power_v = (double)v / 1000; break;
    case 16: f->odometer_m = (double)v; break;
    case 113: f->battery_pct = (double)v; break;
    case 21: f->rssi = (int)v; break;
    case 252: if (v) f->alarms |= FLEET_ALARM_POWER_CUT; break; /* unplug */
    case 247: if (v) f->alarms |= FLEET_ALARM_ACCIDENT; break;  /* crash detection */
    case 246: if (v) f->alarms |= FLEET_ALARM_TOW; break;       /* towing */
    case 236: if (v) f->alarms |= FLEET_ALARM_GENERAL; break;   /* alarm button */
    default: break;
    }
}

/* The IO element of one record: counts and ids are 1 byte in Codec 8 and
 * 2 bytes in 8E, which also has a group of variable-length values. */
static void io_element(cur *c, int ext, weft_json_enc *e, fleet_fix *f) {
    size_t w = ext ? 2 : 1;
    unsigned event = (unsigned)rd(c, w);
    rd(c, w); /* total count: the groups below carry their own */
    weft_json_enc_key(e, WEFT_STR("event"));
    weft_json_enc_int(e, event);
    static const size_t sizes[] = {1, 2, 4, 8};
    for (int g = 0; g < 4 && !c->bad; g++) {
        size_t cnt = (size_t)rd(c, w);
        /* each entry is at least w + size bytes: reject counts that cannot fit */
        if (!need(c, cnt * (w + sizes[g]))) return;
        for (size_t i = 0; i < cnt; i++) {
            unsigned id = (unsigned)rd(c, w);
            io_value(e, f, id, rd(c, sizes[g]), sizes[g]);
        }
    }
    if (!ext || c->bad) return;
    size_t cnt = (size_t)rd(c, 2);
    for (size_t i = 0; i < cnt && !c->bad; i++) {
        unsigned id = (unsigned)rd(c, 2);
        size_t len = (size_t)rd(c, 2);
        if (!need(c, len)) return;
        char key[16];
        int k = snprintf(key, sizeof key, "io%u", id);
        weft_json_enc_key(e, (weft_str){key, (size_t)k});
        /* variable-length values (ICCID, VIN, BLE data...): hex text */
        static const char hx[] = "0123456789abcdef";
        weft_buf t;
        weft_buf_init(&t, 0);
        if (weft_buf_reserve(&t, 2 * len + 1) == 0) {
            for (size_t j = 0; j < len; j++) {
                t.data[2 * j] = hx[c->p[j] >> 4];
                t.data[2 * j + 1] = hx[c->p[j] & 15];
            }
            t.len = 2 * len;
            weft_json_enc_str(e, (weft_str){t.data, t.len});
        } else {
            weft_json_enc_null(e);
        }
        weft_buf_free(&t);
        c->p += len;
    }
}

int tlt_decode(const uint8_t *p, size_t n, tlt_packet *out, fleet_fix *fixes, size_t cap,
               weft_buf *attrs, const char **why) {
    const char *w = NULL;
    long size = tlt_frame(p, n, n, &w);
    if (size <= 0 || (size_t)size != n) {
        *why = w ? w : "AVL packet length does not match its header";
        return size < 0 ? (int)size : WEFT_EPARSE;
    }
    const uint8_t *data = p + 8, *crc_at = p + n - 4;
    uint32_t crc = (uint32_t)crc_at[0] << 24 | (uint32_t)crc_at[1] << 16 | (uint32_t)crc_at[2] << 8 |
                   crc_at[3];
    if (crc > 0xFFFF || crc != tlt_crc16(data, (size_t)(crc_at - data))) {
        *why = "CRC mismatch";
        return WEFT_EPARSE;
    }
    cur c = {data, crc_at, 0};
    int codec = (int)rd(&c, 1);
    if (codec != TLT_CODEC8 && codec != TLT_CODEC8E) {
        *why = "codec not supported (only 8 and 8 Extended carry positions)";
        return WEFT_ENOTSUP;
    }
    int ext = codec == TLT_CODEC8E;
    size_t count = (size_t)rd(&c, 1);
    if (count == 0 || crc_at[-1] != count) {
        *why = count == 0 ? "AVL packet with no records" : "record counts disagree";
        return WEFT_EPARSE;
    }
    if (count > cap) {
        *why = "more records than the caller has room for";
        return WEFT_ELIMIT;
    }
    c.end = crc_at - 1; /* the second count closes the records */
    size_t attrs_start = attrs->len;
    for (size_t i = 0; i < count; i++) {
        fleet_fix *f = &fixes[i];
        fleet_fix_init(f);
        f->fix_ms = (int64_t)rd(&c, 8);
        unsigned priority = (unsigned)rd(&c, 1);
        int32_t lon = (int32_t)(uint32_t)rd(&c, 4), lat = (int32_t)(uint32_t)rd(&c, 4);
        f->lon = lon / 1e7, f->lat = lat / 1e7;
        f->altitude = (int16_t)(uint16_t)rd(&c, 2);
        f->course = (double)rd(&c, 2);
        f->sats = (int)rd(&c, 1);
        f->speed_kn = FLEET_KMH_TO_KN((double)rd(&c, 2));
        f->valid = f->sats > 0;
        f->attr_off = attrs->len;
        weft_json_enc e;
        weft_json_enc_init(&e, attrs);
        weft_json_enc_object(&e);
        weft_json_enc_key(&e, WEFT_STR("priority"));
        weft_json_enc_int(&e, priority);
        weft_json_enc_key(&e, WEFT_STR("sat"));
        weft_json_enc_int(&e, f->sats);
        io_element(&c, ext, &e, f);
        weft_json_enc_end(&e);
        int rc = weft_json_enc_finish(&e);
        if (c.bad) {
            attrs->len = attrs_start;
            *why = "record runs past the end of the packet";
            return WEFT_EPARSE;
        }
        if (rc < 0) {
            attrs->len = attrs_start;
            *why = "out of memory for attributes";
            return rc;
        }
        f->attr_len = attrs->len - f->attr_off;
    }
    if (c.p != c.end) {
        attrs->len = attrs_start;
        *why = "bytes left over after the records";
        return WEFT_EPARSE;
    }
    out->codec = codec;
    out->count = (int)count;
    return (int)count;
}

/* ---- encoder (what a device sends) --------------------------------------------------- */

static void put(uint8_t **p, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--) *(*p)++ = (uint8_t)(v >> (8 * i));
}

/* Bytes of one record at most: 8 + 1 + 15 GPS, IO header and 7 elements. */
#define REC_MAX 96

static uint8_t *record(uint8_t *p, int ext, const fleet_fix *f) {
    int idw = ext ? 2 : 1; /* ids and counts: 2 bytes in Codec 8 Extended */
    int unplug = (f->alarms & FLEET_ALARM_POWER_CUT) != 0;
    put(&p, (uint64_t)f->fix_ms, 8);
    put(&p, unplug ? 2 : 0, 1); /* priority: panic for an alarm */
    put(&p, (uint32_t)(int32_t)lround(f->lon * 1e7), 4);
    put(&p, (uint32_t)(int32_t)lround(f->lat * 1e7), 4);
    put(&p, (uint16_t)(int16_t)lround(f->altitude), 2);
    put(&p, (uint16_t)(lround(f->course) % 360), 2);
    put(&p, (uint8_t)(f->valid ? (f->sats > 0 ? f->sats : 9) : 0), 1);
    put(&p, (uint16_t)lround(f->speed_kn * 1.852), 2); /* whole km/h, as devices send it */
    /* IO: event id, total, then the groups by value size (1, 2, 4, 8 bytes) */
    int n1 = (f->ignition != FLEET_UNKNOWN) + (f->motion != FLEET_UNKNOWN) + (f->rssi != FLEET_UNKNOWN) +
             !isnan(f->battery_pct) + unplug;
    int n2 = !isnan(f->power_v), n4 = !isnan(f->odometer_m);
    put(&p, unplug ? 252 : 0, idw);
    put(&p, (uint64_t)(n1 + n2 + n4), idw);
    put(&p, (uint64_t)n1, idw);
    if (f->ignition != FLEET_UNKNOWN) put(&p, 239, idw), put(&p, f->ignition ? 1 : 0, 1);
    if (f->motion != FLEET_UNKNOWN) put(&p, 240, idw), put(&p, f->motion ? 1 : 0, 1);
    if (f->rssi != FLEET_UNKNOWN) put(&p, 21, idw), put(&p, (uint8_t)f->rssi, 1);
    if (!isnan(f->battery_pct)) put(&p, 113, idw), put(&p, (uint8_t)lround(f->battery_pct), 1);
    if (unplug) put(&p, 252, idw), put(&p, 1, 1);
    put(&p, (uint64_t)n2, idw);
    if (n2) put(&p, 66, idw), put(&p, (uint16_t)lround(f->power_v * 1000), 2);
    put(&p, (uint64_t)n4, idw);
    if (n4) put(&p, 16, idw), put(&p, (uint32_t)llround(f->odometer_m), 4);
    put(&p, 0, idw);        /* 8-byte values */
    if (ext) put(&p, 0, 2); /* variable-length values (Codec 8 Extended only) */
    return p;
}

int tlt_encode(const fleet_fix *fixes, int n, int codec, weft_buf *out) {
    if (n < 1 || n > TLT_RECORDS_MAX || (codec != TLT_CODEC8 && codec != TLT_CODEC8E)) return WEFT_EINVAL;
    int rc = weft_buf_reserve(out, 8 + 2 + (size_t)n * REC_MAX + 1 + 4);
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
    return (int)(p - start);
}
