/* apps/fleet/fix.c — see fix.h. */
#include "fix.h"

#include <math.h>
#include <string.h>

void fleet_fix_init(fleet_fix *f) {
    memset(f, 0, sizeof *f);
    f->sats = FLEET_UNKNOWN;
    f->ignition = f->motion = f->charging = f->rssi = FLEET_UNKNOWN;
    f->battery_pct = f->power_v = f->odometer_m = NAN;
}
