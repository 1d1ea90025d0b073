/*
 * apps/fleet/isotime.h — the timestamps devices and API clients send, to and
 * from Unix milliseconds (UTC). Pure, no locale, no time zone database.
 */
#ifndef FLEET_ISOTIME_H
#define FLEET_ISOTIME_H

#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

/* Parse s into *ms. Accepts: Unix seconds or milliseconds (all digits;
 * 12 digits or more are milliseconds), ISO 8601 / RFC 3339
 * ("2016-01-27T18:55:47Z", fractional seconds, "+02:00"/"+0200"/"Z" offsets;
 * no offset means UTC), and "yyyy-MM-dd HH:mm:ss[.fff]" (UTC). Returns 0, or
 * WEFT_EPARSE for anything else, out-of-range fields included (month 13,
 * 25:00, Feb 30). */
int fleet_time_parse(weft_str s, int64_t *ms);

/* ms as "2024-05-01T12:34:56.789Z" (24 bytes + NUL) into out[32]; returns
 * the length. */
size_t fleet_time_format(char out[32], int64_t ms);

/* The wall clock, Unix milliseconds (CLOCK_REALTIME). */
int64_t fleet_now_ms(void);


#endif
