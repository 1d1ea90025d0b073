/*
 * weft/log.h — leveled logging to stderr.
 *
 * One line per call, written with a single write(2) so lines from several
 * worker threads never interleave. The threshold comes from WEFT_LOG
 * (error|warn|info|debug) at first use, or weft_log_set_level(). Inside a task
 * the line names the task. Safe to call from any thread; never suspends.
 */
#ifndef WEFT_LOG_H
#define WEFT_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_log_level {
    WEFT_LOG_ERROR = 0,
    WEFT_LOG_WARN = 1,
    WEFT_LOG_INFO = 2,
    WEFT_LOG_DEBUG = 3,
} weft_log_level;

void weft_log_set_level(weft_log_level lvl);
weft_log_level weft_log_get_level(void);
void weft_log(weft_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define weft_log_error(...) weft_log(WEFT_LOG_ERROR, __VA_ARGS__)
#define weft_log_warn(...) weft_log(WEFT_LOG_WARN, __VA_ARGS__)
#define weft_log_info(...) weft_log(WEFT_LOG_INFO, __VA_ARGS__)
#define weft_log_debug(...)                                                                        \
    do {                                                                                           \
        if (weft_log_get_level() >= WEFT_LOG_DEBUG) weft_log(WEFT_LOG_DEBUG, __VA_ARGS__);         \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
