/*
 * debug.c — task dumps (SIGQUIT, weft_dump_tasks) and stack-overflow reports.
 *
 * A dump walks every stack slab (stack.c), so it needs no registry of live
 * tasks and costs nothing on spawn or exit. For a parked task it prints what
 * it waits on and walks its frame pointers from the saved context (weft is
 * built with -fno-omit-frame-pointer) to show where it parked.
 *
 * A stack overflow hits the slot's guard page; the SIGSEGV handler runs on
 * the worker's alternate signal stack, finds the slot the address belongs
 * to, prints "stack overflow in task <name>" and aborts. Faults elsewhere go
 * to the default action. Under ASan/TSan the sanitizer's own handler is kept.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_int.h"

static struct sigaction old_quit;
#if !defined(WEFT_ASAN) && !defined(WEFT_TSAN)
static struct sigaction old_segv, old_bus;
#endif
static int installed;

static void put(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t r = write(fd, s, n);
        if (r <= 0) return;
        s += r;
        n -= (size_t)r;
    }
}

static void fmt_addr(char *out, size_t cap, void *pc) {
    Dl_info di;
    if (dladdr(pc, &di) && di.dli_sname)
        snprintf(out, cap, "%s+0x%lx", di.dli_sname,
                 (unsigned long)((char *)pc - (char *)di.dli_saddr));
    else
        snprintf(out, cap, "%p", pc);
}

static const char *state_name(int s) {
    switch (s) {
    case TASK_RUNNABLE:
        return "runnable";
    case TASK_RUNNING:
        return "running";
    case TASK_PARKED:
        return "parked";
    case TASK_DONE:
        return "exiting";
    default:
        return "?";
    }
}

typedef struct {
    int fd;
    long n;
} dump_ctx;

WEFT_NO_TSAN static void dump_one(weft__task *t, void *arg) {
    dump_ctx *d = arg;
    char line[1024], sym[160];
    int len;
    d->n++;
    fmt_addr(sym, sizeof sym, (void *)t->fn);
    len = snprintf(line, sizeof line, "task %llu \"%s\" %s", (unsigned long long)t->id, t->name,
                   state_name(t->state));
    if (t->state == TASK_PARKED && t->wait_reason)
        len += snprintf(line + len, sizeof line - (size_t)len, " on %s (%p)", t->wait_reason,
                        t->wait_obj);
    if (atomic_load(&t->canceled))
        len += snprintf(line + len, sizeof line - (size_t)len, " [canceled]");
    len += snprintf(line + len, sizeof line - (size_t)len, ", entry %s\n", sym);
    put(d->fd, line, (size_t)len);
    if (t->state != TASK_PARKED && t->state != TASK_RUNNABLE) return;
    /* frames: the switch saved rbp at sp[5] and its return address at sp[6] */
    void **sp = t->sp;
    char *lo = t->stack_lo, *hi = (char *)t;
    if ((char *)sp < lo || (char *)sp >= hi) return;
    void *pc = sp[6];
    void **fp = sp[5];
    for (int i = 0; i < 12 && pc; i++) {
        fmt_addr(sym, sizeof sym, pc);
        len = snprintf(line, sizeof line, "    at %s\n", sym);
        put(d->fd, line, (size_t)len);
        if ((char *)fp < lo || (char *)fp + 16 > hi) break;
        pc = fp[1];
        fp = fp[0];
    }
}

WEFT_NO_TSAN void weft_dump_tasks(int fd) {
    static const char *guards[] = {"canary", "mprotect", "MADV_GUARD_INSTALL"};
    char head[256];
    int gm = weft__stack_guard_mode < 0 ? 0 : weft__stack_guard_mode;
    int n = snprintf(head, sizeof head,
                     "weft: task dump (%lld live, %d workers, %s, stack guards: %s)\n",
                     (long long)weft__live_tasks(), weft__R.nworkers,
                     weft__R.io ? weft__R.io->name : "-", guards[gm]);
    put(fd, head, (size_t)n);
    dump_ctx d = {fd, 0};
    weft__stack_foreach(dump_one, &d);
    n = snprintf(head, sizeof head, "weft: end of dump (%ld tasks)\n", d.n);
    put(fd, head, (size_t)n);
}

static void on_quit(int sig) {
    (void)sig;
    int e = errno;
    weft_dump_tasks(2);
    errno = e;
}

#if !defined(WEFT_ASAN) && !defined(WEFT_TSAN)
static void on_fault(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    int in_guard = 0;
    weft__task *t = weft__stack_owner(si->si_addr, &in_guard);
    if (t && in_guard) {
        char msg[160];
        int n = snprintf(msg, sizeof msg, "weft: stack overflow in task \"%s\" (id %llu)\n",
                         t->name[0] ? t->name : "?", (unsigned long long)t->id);
        put(2, msg, (size_t)n);
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    /* not ours: fall back to the previous/default action and re-fault */
    struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
    sigaction(sig, old, NULL);
}
#endif

int weft__debug_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_quit;
    sa.sa_flags = SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGQUIT, &sa, &old_quit);
#if !defined(WEFT_ASAN) && !defined(WEFT_TSAN)
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
#endif
    installed = 1;
    return 0;
}

void weft__debug_uninstall(void) {
    if (!installed) return;
    sigaction(SIGQUIT, &old_quit, NULL);
#if !defined(WEFT_ASAN) && !defined(WEFT_TSAN)
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
#endif
    installed = 0;
}

#define ALTSTACK_SIZE (64u << 10)

void weft__debug_thread_init(weft__worker *w) {
    stack_t ss;
    w->altstack = malloc(ALTSTACK_SIZE);
    if (!w->altstack) return;
    ss.ss_sp = w->altstack;
    ss.ss_size = ALTSTACK_SIZE;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) < 0) {
        free(w->altstack);
        w->altstack = NULL;
    }
}

void weft__debug_thread_fini(weft__worker *w) {
    if (!w->altstack) return;
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    free(w->altstack);
    w->altstack = NULL;
}
