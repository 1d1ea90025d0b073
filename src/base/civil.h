/*
 * src/base/civil.h — calendar arithmetic shared by the log timestamps
 * (log.c) and the HTTP Date header (src/http/context.c), without gmtime_r()
 * and its tz lock.
 */
#ifndef WEFT_BASE_CIVIL_H
#define WEFT_BASE_CIVIL_H

#include <stdint.h>

/* Days since 1970-01-01 to a proleptic Gregorian year, month (1-12), day. */
void weft__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
