/*
 * src/base/civil.h — calendar arithmetic (civil.c) shared by the log
 * timestamps (log.c), the HTTP Date header (src/http/context.c) and database
 * timestamps (src/db/rows.c), without gmtime_r() and its tz lock.
 */
#ifndef WEFT_BASE_CIVIL_H
#define WEFT_BASE_CIVIL_H

#include <stdint.h>

/* Days since 1970-01-01 to a proleptic Gregorian year, month (1-12), day. */
void weft__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* The inverse: days since 1970-01-01 of year y, month m (1-12), day d. */
int64_t weft__days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
