/*
 * apps/fleet/geo.h — geometry for geofences and reports: distances on the
 * sphere, circles and polygons (read from GeoJSON), and a grid index that
 * keeps the cost of "which geofences contain this fix" small with tens of
 * thousands of geofences. Pure: no I/O, no globals.
 *
 * Coordinates are WGS 84 degrees. Polygons are tested in plain lat/lon
 * (fine for fences up to a few hundred kilometres across, which is what
 * depots, sites and zones are); fences that cross the antimeridian are
 * refused when read.
 */
#ifndef FLEET_GEO_H
#define FLEET_GEO_H

#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

#define GEO_EARTH_R 6371008.8 /* mean radius, metres */
#define GEO_MAX_POINTS 10000  /* vertices in one polygon, all rings */
#define GEO_MAX_RINGS 64

/* Great-circle distance in metres (haversine). */
double geo_distance_m(double lat1, double lon1, double lat2, double lon2);

typedef struct geo_point {
    double lat, lon;
} geo_point;

typedef struct geo_bbox {
    double min_lat, min_lon, max_lat, max_lon;
} geo_bbox;

typedef enum geo_kind { GEO_CIRCLE = 1, GEO_POLYGON = 2 } geo_kind;

typedef struct geo_shape {
    geo_kind kind;
    geo_bbox box;
    /* circle */
    geo_point center;
    double radius_m;
    /* polygon: nring rings (the first the outline, then holes) of points,
     * ring i is pts[ring_start[i] .. ring_start[i + 1]) */
    geo_point *pts;
    uint32_t *ring_start; /* nring + 1 entries */
    uint32_t nring, npts;
} geo_shape;

/* Read a geofence's shape from GeoJSON text: a geometry or a Feature whose
 * geometry is a Polygon, or a Point with a "radius" in metres (on the
 * geometry, or in the Feature's properties) for a circle. The shape's
 * memory (a polygon's points) comes from a (freed with it); the JSON is
 * parsed in a scratch arena freed before returning, so a holds nothing else.
 * Returns 0, WEFT_ENOMEM, or WEFT_EPARSE with *why saying what is
 * wrong ("Polygon ring must be closed", "radius must be > 0 and <= 1000 km",
 * "latitude out of range", ...). */
int geo_shape_from_geojson(weft_str text, weft_arena *a, geo_shape *out, const char **why);

/* The same from a parsed JSON value (e.g. a field of a request body). */
struct weft_json;
int geo_shape_from_json(const struct weft_json *v, weft_arena *a, geo_shape *out, const char **why);

/* The shape as GeoJSON (geometry; a circle as a Point with "radius"). */
int geo_shape_to_geojson(const geo_shape *s, weft_buf *out);

/* 1 when (lat, lon) is inside the shape (a point on a polygon's edge may
 * fall either way; a circle includes its boundary). */
int geo_contains(const geo_shape *s, double lat, double lon);

/* ---- grid index ------------------------------------------------------------
 * Each shape is listed in the grid cells its bounding box overlaps (cells of
 * cell_deg degrees); a shape spanning more than GEO_INDEX_MAX_CELLS cells is
 * kept on a short list checked for every query instead. A query looks at one
 * cell's list and the short list, tests the bounding box, then the shape. */
#define GEO_INDEX_MAX_CELLS 1024

typedef struct geo_index geo_index;

/* Build an index over shapes[0..n) (not copied: they must outlive it); id i
 * in query results is shapes[i]. cell_deg <= 0 picks 0.05 (about 5 km).
 * NULL when out of memory. */
geo_index *geo_index_new(const geo_shape *shapes, size_t n, double cell_deg);
void geo_index_free(geo_index *ix);

/* The ids of the shapes containing (lat, lon), ascending, into out[0..cap);
 * returns how many contain it (which may exceed cap: then only cap were
 * written). */
size_t geo_index_query(const geo_index *ix, double lat, double lon, uint32_t *out, size_t cap);

#endif
