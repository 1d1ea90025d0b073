/*
 * fuzz/ws_frame_client.c — libFuzzer target for the WebSocket receiver in the
 * client role (frames must not be masked). See ws_frame_common.h.
 */
#include "ws_frame_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_rx(WEFT_WS_CLIENT, data, size);
}
