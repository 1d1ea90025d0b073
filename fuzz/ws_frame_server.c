/*
 * fuzz/ws_frame_server.c — libFuzzer target for the WebSocket receiver in the
 * server role (frames must be masked). See ws_frame_common.h.
 */
#include "ws_frame_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_rx(WEFT_WS_SERVER, data, size);
}
