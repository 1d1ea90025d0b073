/*
 * io_int.h — what io.c shares with the two backends (io_uring.c, io_epoll.c).
 *
 * weft__fdtab[fd] holds, per fd: whether weft made it non-blocking, and the
 * tasks waiting for it to become readable (rd) or writable (wr), each a
 * weft__waiter in the waiting task's frame. The epoll backend delivers its
 * events through these lists; the io_uring backend uses them only so that
 * weft_close() can wake the waiters.
 */
#ifndef WEFT_IO_INT_H
#define WEFT_IO_INT_H

#include "rt_int.h"

typedef struct weft__fdent {
    uint32_t lock;
    _Atomic uint8_t nb;
    weft__waiter *rd, *wr;
} weft__fdent;

extern weft__fdent *weft__fdtab;
extern int weft__fdtab_n;

/* user_data / epoll data value of a worker's wake eventfd */
#define WEFT__WAKE_TAG (~(uint64_t)0)

#endif
