/*
 * weft/log.h — leveled logging to stderr.
 *
 * One line per call, written with a single write(2) so lines from several
 * worker threads never interleave. The threshold comes from WEFT_LOG
 * (error|warn|info|debug) at first use, or weft_log_set_level(). A context
 * callback names where the line comes from: weft_main() installs the
 * runtime's, so inside a task the line names the task. Safe to call from any
 * thread; never suspends.
 *
 *   2026-11-22T06:20:01.123Z WARN [task-name] message
 *
 * The logger is part of base/ and knows nothing of the runtime: the context
 * callback is how the runtime (or an application) tells it more.
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

/* The context of a log line: returns a short NUL-terminated name, shown in
 * brackets after the level ("[http-conn]"), or NULL for none (the brackets
 * are left out). Called on the logging thread for every line that passes
 * the level; it must be callable from any thread, must not log, suspend or
 * block, and the string must stay valid until the line is written (at most
 * 64 bytes of it are shown). */
typedef const char *(*weft_log_context_fn)(void);
/* Install fn as the context of every later line (NULL: none, the default
 * before any weft_main()). weft_main() installs the runtime's at start: the
 * calling task's name ("task" for an unnamed task; NULL on threads that are
 * not running a task); install yours after that to replace it. Any thread;
 * lines being written meanwhile use the old or the new one. */
void weft_log_set_context(weft_log_context_fn fn);
weft_log_context_fn weft_log_get_context(void);

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
