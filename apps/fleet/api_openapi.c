/*
 * apps/fleet/api_openapi.c — GET /api/openapi.json: the OpenAPI 3 document of
 * the REST API. The document is apps/fleet/openapi.json, a plain JSON file to
 * edit with the handlers it describes (tests/unit/fleet_api.c checks that
 * every route is in it); the assembler's .incbin puts its bytes into the
 * binary at build time, so the server serves it without reading a file.
 */
#include "api_int.h"

__asm__(".section .rodata\n"
        ".global fleet_openapi_json\n"
        "fleet_openapi_json:\n"
        ".incbin \"apps/fleet/openapi.json\"\n"
        ".global fleet_openapi_json_end\n"
        "fleet_openapi_json_end:\n"
        ".byte 0\n"
        ".previous\n");
extern const char fleet_openapi_json[], fleet_openapi_json_end[];

int api_openapi(weft_http_ctx *c, void *ud) {
    (void)ud;
    return weft_http_send(c, 200, "application/json", fleet_openapi_json,
                          (size_t)(fleet_openapi_json_end - fleet_openapi_json));
}
