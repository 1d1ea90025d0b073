/*
 * apps/fleet/teltonika.h — Teltonika's TCP protocol, Codec 8 and Codec 8
 * Extended: pure functions over bytes, no I/O (the connection loop lives in
 * ingest_tcp.c; fuzz/fleet_teltonika.c drives these directly).
 *
 * A session on the wire:
 *   device: [len:u16][IMEI, len ASCII digits]         -> tlt_login()
 *   server: 0x01 (known device) or 0x00 (refused, then close)
 *   device: [0:u32][L:u32][codec:u8][n:u8][n records][n:u8][crc:u32]
 *           -> tlt_frame() says how many bytes make the packet,
 *              tlt_decode() turns a whole packet into n fixes
 *   server: [n:u32], only once the n records are durable; a packet that
 *           fails its CRC or does not parse gets no answer and the device
 *           sends it again.
 * All integers are big-endian. L counts codec..second n; the CRC is
 * CRC-16/ARC (reflected 0x8005, init 0) over the same bytes.
 */
#ifndef FLEET_TELTONIKA_H
#define FLEET_TELTONIKA_H

#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

#include "fix.h"

#define TLT_IMEI_MAX 17          /* 15 digits in practice; some firmwares pad */
#define TLT_PACKET_MAX (64 * 1024) /* far above what a device sends (~1.3 KB) */
#define TLT_RECORDS_MAX 255      /* the record count is one byte */

enum { TLT_CODEC8 = 0x08, TLT_CODEC8E = 0x8E };

/* The IMEI login frame at p[0..n). Returns the bytes it takes (> 0) with the
 * IMEI NUL-terminated in imei, 0 when more bytes are needed, or WEFT_EPARSE
 * (*why says what) for a length out of 1..TLT_IMEI_MAX or a non-digit. */
int tlt_login(const uint8_t *p, size_t n, char imei[TLT_IMEI_MAX + 1], const char **why);

/* The size of the AVL packet starting at p[0..n): > 0 once its header is
 * there (the whole packet may not be yet), 0 when fewer than 8 bytes are, or
 * WEFT_EPARSE for a preamble other than zero, and WEFT_ELIMIT for a declared
 * length over max or too small to hold a packet. Nothing past the header is
 * read, so a length is checked before anything is allocated for it. */
long tlt_frame(const uint8_t *p, size_t n, size_t max, const char **why);

/* A decoded packet: its codec and the fixes it carries. */
typedef struct tlt_packet {
    int codec;
    int count; /* records in the packet = fixes written = the number to ack */
} tlt_packet;

/* Decode one whole packet p[0..n) (n as tlt_frame returned). Writes
 * out->count fixes to fixes[0..cap) and each one's attributes, a JSON object,
 * to attrs (appended; fixes point at it by offset). Returns out->count (>= 1)
 * or, with nothing to acknowledge: WEFT_EPARSE (a bad CRC, counts that
 * disagree, a record that overruns the packet or leaves bytes over),
 * WEFT_ENOTSUP (a codec other than 8 and 8E, e.g. 12's command replies),
 * WEFT_ELIMIT (more than cap records), WEFT_ENOMEM / attrs' WEFT_ELIMIT.
 * *why names the failure. Every length is checked against the bytes left
 * before it is used. */
int tlt_decode(const uint8_t *p, size_t n, tlt_packet *out, fleet_fix *fixes, size_t cap,
               weft_buf *attrs, const char **why);

/* Encode fixes[0..n) (1..TLT_RECORDS_MAX) as one AVL packet of codec
 * TLT_CODEC8 or TLT_CODEC8E, as a device sends it (for the simulator, tests
 * and benchmarks): the GPS element from the fix (speed in whole km/h, 0
 * satellites for an invalid fix), IO 239 ignition, 240 movement, 21 GSM
 * signal, 113 battery level, 66 external voltage (mV) and 16 odometer (m)
 * when the fix has them, and 252 unplug (also as the record's event, at
 * panic priority) when it raises FLEET_ALARM_POWER_CUT. Appends to out;
 * returns the packet's length, or WEFT_EINVAL (n or codec out of range) or
 * the buffer's error. */
int tlt_encode(const fleet_fix *fixes, int n, int codec, weft_buf *out);

/* CRC-16/ARC of p[0..n) (reflected polynomial 0xA001, initial value 0). */
uint16_t tlt_crc16(const uint8_t *p, size_t n);

/* The 4-byte acknowledgement of n records. */
void tlt_ack(uint8_t out[4], uint32_t n);

#endif
