/*
 * tests/unit/fleet_events.c — the event rules (apps/fleet/events.c), one
 * test per rule, driven by fixes as a device would send them.
 */
#include <math.h>

#include "events.h"
#include "test.h"

static const event_rules R = {.moving_speed_kn = 1.5, .stop_min_ms = 300000, .speed_limit_kn = 50};

static fleet_fix fx(int64_t t_s, double lat, double lon, double kn) {
    fleet_fix f;
    fleet_fix_init(&f);
    f.fix_ms = t_s * 1000;
    f.lat = lat, f.lon = lon, f.speed_kn = kn, f.valid = 1;
    return f;
}

static int count(const fleet_event *ev, int n, fleet_event_type t) {
    int k = 0;
    for (int i = 0; i < n; i++) k += ev[i].type == t;
    return k;
}

TEST_PLAIN(online_once_then_offline_after_silence) {
    live_state st;
    live_geo geo = {0};
    live_state_init(&st);
    fleet_event ev[EVENTS_PER_FIX_MAX];
    fleet_fix f = fx(1000, 1, 1, 0);
    int n = events_on_fix(&st, &geo, &f, "osmand", 1000500, NULL, 0, &R, ev);
    ASSERT_EQ(count(ev, n, EV_ONLINE), 1);
    ASSERT_EQ(ev[0].time_ms, 1000500);
    f = fx(1010, 1, 1, 0);
    n = events_on_fix(&st, &geo, &f, "osmand", 1010000, NULL, 0, &R, ev);
    ASSERT_EQ(count(ev, n, EV_ONLINE), 0);
    fleet_event off;
    ASSERT_EQ(events_on_silence(&st, 1010000 + 600000, 600000, &off), 0); /* not yet */
    ASSERT_EQ(events_on_silence(&st, 1010000 + 600001, 600000, &off), 1);
    ASSERT_EQ(off.type, EV_OFFLINE);
    ASSERT_EQ(st.status, LIVE_OFFLINE);
    ASSERT_EQ(events_on_silence(&st, 9999999999, 600000, &off), 0); /* once */
    f = fx(2000, 1, 1, 0);
    n = events_on_fix(&st, &geo, &f, "osmand", 2000000, NULL, 0, &R, ev);
    ASSERT_EQ(count(ev, n, EV_ONLINE), 1);
}

TEST_PLAIN(moving_then_stopped_after_stop_min) {
    live_state st;
    live_geo geo = {0};
    live_state_init(&st);
    fleet_event ev[EVENTS_PER_FIX_MAX];
    int64_t t = 1000;
    fleet_fix f = fx(t, 1, 1, 0);
    events_on_fix(&st, &geo, &f, "t", t * 1000, NULL, 0, &R, ev);
    f = fx(t += 10, 1.001, 1, 20);
    int n = events_on_fix(&st, &geo, &f, "t", t * 1000, NULL, 0, &R, ev);
    ASSERT_EQ(count(ev, n, EV_MOVING), 1);
    ASSERT_EQ(st.moving, 1);
    /* slow for 299 s: still moving (a traffic light is not a stop) */
    int64_t slow = t + 10;
    for (t = slow; t < slow + 300; t += 10) {
        f = fx(t, 1.002, 1, 0.5);
        n = events_on_fix(&st, &geo, &f, "t", t * 1000, NULL, 0, &R, ev);
        ASSERT_EQ(count(ev, n, EV_STOPPED), 0);
    }
    f = fx(slow + 300, 1.002, 1, 0);
    n = events_on_fix(&st, &geo, &f, "t", (slow + 300) * 1000, NULL, 0, &R, ev);
    ASSERT_EQ(count(ev, n, EV_STOPPED), 1);
    ASSERT_EQ(ev[n - 1].time_ms, slow * 1000); /* stopped since it slowed down */
    ASSERT_EQ(st.moving, 0);
}

TEST_PLAIN(overspeed_with_hysteresis) {
    live_state st;
    live_geo geo = {0};
    live_state_init(&st);
    fleet_event ev[EVENTS_PER_FIX_MAX];
    double speeds[] = {40, 51, 55, 49, 51, 47, 52};
    int want[] = {0, 1, 0, 0, 0, 0, 1}; /* 49 and 51 flap inside the band: one event */
    for (int i = 0; i < 7; i++) {
        fleet_fix f = fx(100 + i, 1, 1 + i * 0.001, speeds[i]);
        int n = events_on_fix(&st, &geo, &f, "t", (100 + i) * 1000, NULL, 0, &R, ev);
        ASSERT_EQ(count(ev, n, EV_OVERSPEED), want[i]);
        if (want[i]) {
            const fleet_event *e = &ev[n - 1];
            ASSERT(e->speed_kn == speeds[i] && e->limit_kn == 50);
        }
    }
    event_rules none = R;
    none.speed_limit_kn = 0;
    fleet_fix f = fx(200, 1, 1, 300);
    int n = events_on_fix(&st, &geo, &f, "t", 200000, NULL, 0, &none, ev);
    ASSERT_EQ(count(ev, n, EV_OVERSPEED), 0);
}

TEST_PLAIN(ignition_changes_only) {
    live_state st;
    live_geo geo = {0};
    live_state_init(&st);
    fleet_event ev[EVENTS_PER_FIX_MAX];
    int seq[] = {1, 1, 0, FLEET_UNKNOWN, 0, 1};
    int on[] = {0, 0, 0, 0, 0, 1}, off[] = {0, 0, 1, 0, 0, 0};
    for (int i = 0; i < 6; i++) {
        fleet_fix f = fx(10 + i, 1, 1, 0);
        f.ignition = seq[i];
        int n = events_on_fix(&st, &geo, &f, "t", (10 + i) * 1000, NULL, 0, &R, ev);
        ASSERT_EQ(count(ev, n, EV_IGNITION_ON), on[i]);
        ASSERT_EQ(count(ev, n, EV_IGNITION_OFF), off[i]);
    }
}

TEST_PLAIN(alarm_when_raised_not_while_held) {
    live_state st;
    live_geo geo = {0};
    live_state_init(&st);
    fleet_event ev[EVENTS_PER_FIX_MAX];
    uint32_t seq[] = {0, FLEET_ALARM_SOS, FLEET_ALARM_SOS, FLEET_ALARM_SOS | FLEET_ALARM_POWER_CUT, 0,
                      FLEET_ALARM_SOS};
    int want[] = {0, 1, 0, 1, 0, 1};
    for (int i = 0; i < 6; i++) {
        fleet_fix f = fx(10 + i, 1, 1, 0);
        f.alarms = seq[i];
        int n = events_on_fix(&st, &geo, &f, "t", (10 + i) * 1000, NULL, 0, &R, ev);
        ASSERT_EQ(count(ev, n, EV_ALARM), want[i]);
        if (i == 3) ASSERT_EQ(ev[n - 1].alarm, FLEET_ALARM_POWER_CUT);
    }
    ASSERT(strcmp(fleet_alarm_name(FLEET_ALARM_POWER_CUT), "powerCut") == 0);
}

TEST_PLAIN(geofence_enter_and_exit) {
    live_state st;
    live_geo geo = {0};
    live_state_init(&st);
    fleet_event ev[EVENTS_PER_FIX_MAX];
    int64_t a[] = {3, 7}, b[] = {7, 9};
    fleet_fix f = fx(10, 1, 1, 0);
    int n = events_on_fix(&st, &geo, &f, "t", 10000, a, 2, &R, ev);
    ASSERT_EQ(count(ev, n, EV_GEOFENCE_ENTER), 2);
    f = fx(11, 1, 1, 0);
    n = events_on_fix(&st, &geo, &f, "t", 11000, b, 2, &R, ev);
    ASSERT_EQ(count(ev, n, EV_GEOFENCE_ENTER), 1);
    ASSERT_EQ(count(ev, n, EV_GEOFENCE_EXIT), 1);
    for (int i = 0; i < n; i++) {
        if (ev[i].type == EV_GEOFENCE_ENTER) ASSERT_EQ(ev[i].geofence_id, 9);
        if (ev[i].type == EV_GEOFENCE_EXIT) ASSERT_EQ(ev[i].geofence_id, 3);
    }
    /* an invalid fix says nothing about geofences */
    f = fx(12, 0, 0, 0);
    f.valid = 0;
    n = events_on_fix(&st, &geo, &f, "t", 12000, NULL, 0, &R, ev);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(geo.n, 2);
    ASSERT(st.lat == 1); /* the last good position stays */
}

TEST_PLAIN(out_of_order_fix_changes_nothing) {
    live_state st;
    live_geo geo = {0};
    live_state_init(&st);
    fleet_event ev[EVENTS_PER_FIX_MAX];
    fleet_fix f = fx(100, 1, 1, 10);
    events_on_fix(&st, &geo, &f, "t", 100000, NULL, 0, &R, ev);
    f = fx(50, 2, 2, 80);
    int n = events_on_fix(&st, &geo, &f, "t", 101000, NULL, 0, &R, ev);
    ASSERT_EQ(n, 0);
    ASSERT(st.lat == 1 && st.fix_ms == 100000);
    ASSERT_EQ(st.last_seen_ms, 101000); /* but the device was heard */
}

TEST_PLAIN(distance_today_ignores_glitches) {
    live_state st;
    live_geo geo = {0};
    live_state_init(&st);
    fleet_event ev[EVENTS_PER_FIX_MAX];
    fleet_fix f = fx(86400 * 10, 0, 0, 0);
    events_on_fix(&st, &geo, &f, "t", 0, NULL, 0, &R, ev);
    f = fx(86400 * 10 + 60, 0.01, 0, 20); /* 1.1 km in a minute */
    events_on_fix(&st, &geo, &f, "t", 0, NULL, 0, &R, ev);
    ASSERT(fabs(st.distance_today_m - 1111.95) < 1);
    f = fx(86400 * 10 + 61, 10, 0, 20); /* 1100 km in a second: a glitch */
    events_on_fix(&st, &geo, &f, "t", 0, NULL, 0, &R, ev);
    ASSERT(fabs(st.distance_today_m - 1111.95) < 1);
    f = fx(86400 * 11 + 1, 10.01, 0, 20); /* next day: counts from zero */
    events_on_fix(&st, &geo, &f, "t", 0, NULL, 0, &R, ev);
    ASSERT(st.distance_today_m < 1200);
}

TEST_PLAIN(event_names_round_trip) {
    for (int t = 1; t < EV__COUNT; t++)
        ASSERT_EQ(fleet_event_parse(fleet_event_name((fleet_event_type)t)), t);
    ASSERT_EQ(fleet_event_parse("nope"), 0);
}
