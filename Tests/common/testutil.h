/*
 * testutil — shared helpers for the C test suites of libsupervisor.
 *
 * Every suite links this (CMake target `testutil`, which also brings in
 * libsupervisor, pthreads and libyajl). Conventions:
 *   - A test binary holds several cases; argv[1] names the case to run
 *     (tu_main). Each case runs in its own process, so cases are independent.
 *   - A failed assertion prints "file:line: message" to stderr, removes the
 *     temp dirs and kills the children this process registered, then exits 1.
 *     Set TU_KEEP=1 in the environment to keep temp dirs for a post-mortem.
 *   - Every wait is bounded: it takes a timeout in milliseconds and reports
 *     whether the awaited thing happened. Nothing sleeps as synchronisation;
 *     the only sleeps are the negative checks ("nothing happens within a
 *     window") and tu_poll_until, for state that has no notification.
 *   - Functions that can fail for environmental reasons (fork, mkdtemp, ...)
 *     fail the test themselves; they never return an error to the caller.
 *
 * Compile with -D_GNU_SOURCE (the CMake files do).
 */
#ifndef LIBSUPERVISOR_TESTUTIL_H
#define LIBSUPERVISOR_TESTUTIL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include <yajl/yajl_tree.h>

#include "supervisor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Cases and assertions                                                      */
/* ------------------------------------------------------------------------ */

/* Define a case:   TEST(fifo_create) { ... }
 * List it:         static const tu_case cases[] = { TU_CASE(fifo_create), ... };
 * Run it:          int main(int c, char **v) { return TU_MAIN(c, v, cases); } */
typedef struct tu_case {
    const char *name;
    void (*fn)(void);
} tu_case;

#define TEST(name) static void test_##name(void)
#define TU_CASE(name) { #name, test_##name }
#define TU_MAIN(argc, argv, cases) \
    tu_main((argc), (argv), (cases), sizeof(cases) / sizeof((cases)[0]))

/* Runs the case named argv[1]; "--list" prints the case names. Returns the
 * process exit status (0 pass, 1 fail, 2 usage). */
int tu_main(int argc, char **argv, const tu_case *cases, size_t ncases);

/* Name of the case being run (argv[1]), for messages. */
const char *tu_case_name(void);

/* Reports a failure at file:line and exits 1 (never returns). */
void tu_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* Progress note on stderr, prefixed with the case name (kept in ctest logs). */
void tu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define FAIL(...) tu_fail(__FILE__, __LINE__, __VA_ARGS__)

#define ASSERT(cond)                                                         \
    do {                                                                     \
        if (!(cond)) FAIL("assertion failed: %s", #cond);                    \
    } while (0)

#define ASSERT_MSG(cond, ...)                                                \
    do {                                                                     \
        if (!(cond)) FAIL(__VA_ARGS__);                                      \
    } while (0)

#define ASSERT_EQ(a, b)                                                      \
    do {                                                                     \
        long long tu_a_ = (long long)(a), tu_b_ = (long long)(b);            \
        if (tu_a_ != tu_b_)                                                  \
            FAIL("%s == %s: %lld != %lld", #a, #b, tu_a_, tu_b_);            \
    } while (0)

#define ASSERT_STREQ(a, b)                                                   \
    do {                                                                     \
        const char *tu_a_ = (a), *tu_b_ = (b);                               \
        if (tu_a_ == NULL || tu_b_ == NULL || strcmp(tu_a_, tu_b_) != 0)     \
            FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,                       \
                 tu_a_ ? tu_a_ : "(null)", tu_b_ ? tu_b_ : "(null)");        \
    } while (0)

/* expr must return 0 (prints errno otherwise). */
#define ASSERT_OK(expr)                                                      \
    do {                                                                     \
        errno = 0;                                                           \
        int tu_r_ = (expr);                                                  \
        if (tu_r_ != 0)                                                      \
            FAIL("%s returned %d (errno %d %s)", #expr, tu_r_, errno,        \
                 strerror(errno));                                           \
    } while (0)

/* expr (an int call) must return -1 with errno == err. */
#define ASSERT_FAILS(expr, err)                                              \
    do {                                                                     \
        errno = 0;                                                           \
        int tu_r_ = (expr);                                                  \
        int tu_e_ = errno;                                                   \
        if (tu_r_ != -1 || tu_e_ != (err))                                   \
            FAIL("%s: expected -1/%s, got %d/errno %d (%s)", #expr, #err,    \
                 tu_r_, tu_e_, strerror(tu_e_));                             \
    } while (0)

/* expr (a pointer call) must return NULL with errno == err. */
#define ASSERT_NULL_ERRNO(expr, err)                                         \
    do {                                                                     \
        errno = 0;                                                           \
        void *tu_p_ = (void *)(expr);                                        \
        int tu_e_ = errno;                                                   \
        if (tu_p_ != NULL || tu_e_ != (err))                                 \
            FAIL("%s: expected NULL/%s, got %p/errno %d (%s)", #expr, #err,  \
                 tu_p_, tu_e_, strerror(tu_e_));                             \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Time and bounded waits                                                    */
/* ------------------------------------------------------------------------ */

/* CLOCK_MONOTONIC in milliseconds. */
long long tu_now_ms(void);

/* Sleeps ms milliseconds. Only for negative checks ("nothing happens within
 * a window"), never to wait for something to happen. */
void tu_sleep_ms(int ms);

/* A mutex + condition variable (CLOCK_MONOTONIC) to wait on a predicate. */
typedef struct tu_cond {
    pthread_mutex_t mu;
    pthread_cond_t cv;
} tu_cond;

void tu_cond_init(tu_cond *c);
void tu_cond_destroy(tu_cond *c);
void tu_cond_lock(tu_cond *c);
void tu_cond_unlock(tu_cond *c);
/* Wakes every waiter; call after changing the state, with or without the lock. */
void tu_cond_broadcast(tu_cond *c);
/* Waits until pred(arg) is true or timeout_ms passed. pred runs with the
 * mutex held. Returns the last value of pred. Takes and releases the lock. */
bool tu_cond_wait_until(tu_cond *c, bool (*pred)(void *arg), void *arg, int timeout_ms);

/* For state without a notification (e.g. supervisor_container_state):
 * re-evaluates pred every few milliseconds until true or timeout_ms. */
bool tu_poll_until(bool (*pred)(void *arg), void *arg, int timeout_ms);

/* A one-shot gate: tu_gate_wait blocks (bounded) until tu_gate_open. Handy to
 * hold a hook inside the library while the test inspects state. */
typedef struct tu_gate {
    tu_cond c;
    bool open;
} tu_gate;

void tu_gate_init(tu_gate *g);
void tu_gate_open(tu_gate *g);
/* true when the gate was opened before timeout_ms. */
bool tu_gate_wait(tu_gate *g, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* Event counter keyed by container id                                       */
/* ------------------------------------------------------------------------ */

/* Counts events per key (a container id) and remembers the pid and code of
 * the last event for each key. Thread-safe; hooks call tu_events_record. */
typedef struct tu_events tu_events;

tu_events *tu_events_new(void);
void tu_events_free(tu_events *ev);
void tu_events_record(tu_events *ev, const char *key, int pid, int code);
/* Number of events recorded for key (0 when never seen). */
int tu_events_count(tu_events *ev, const char *key);
/* Number of events over all keys. */
int tu_events_total(tu_events *ev);
/* Number of distinct keys seen. */
int tu_events_keys(tu_events *ev);
/* Last pid/code recorded for key; false when key was never seen. */
bool tu_events_last(tu_events *ev, const char *key, int *pid, int *code);
/* Waits until key has at least n events. */
bool tu_events_wait(tu_events *ev, const char *key, int n, int timeout_ms);
/* Waits until there are at least n events in total. */
bool tu_events_wait_total(tu_events *ev, int n, int timeout_ms);
/* Calls fn for every key (under the counter's lock: fn must not record). */
void tu_events_foreach(tu_events *ev,
                       void (*fn)(const char *key, int count, int pid, int code, void *arg),
                       void *arg);

/* ------------------------------------------------------------------------ */
/* Standard recording hooks                                                  */
/* ------------------------------------------------------------------------ */

/* Filled by tu_install_recorder's hooks. */
extern tu_events *tu_stopped;   /* container_stopped: key id, pid, exit code */
extern tu_events *tu_gc_done;   /* gc_done: key id */
extern tu_events *tu_logs;      /* log: key = the level as a decimal string */

/* Installs engine ops whose container_stopped / gc_done / log hooks record
 * into the counters above (created on first use); clean may be NULL (built-in
 * cleaner only). Other hooks keep the library defaults. Fails the test if
 * supervisor_set_engine_ops fails. */
void tu_install_recorder(int (*clean)(void *ctx, const char *id, const char *runtime, int pid));

/* Standard case set-up: a fresh temp root (registered for removal), set as
 * root_dir, with short retry timings (kill_retries 3, kill_retry_interval_ms
 * 10, gc_retry_initial_ms 10, gc_retry_max_ms 200). Returns the dir. */
char *tu_setup_root(const char *tag);

/* ------------------------------------------------------------------------ */
/* Temp dirs and files                                                       */
/* ------------------------------------------------------------------------ */

/* mkdtemp("/tmp/sup-<tag>-XXXXXX"); registered for removal when the process
 * ends (tu_main) or fails. Returns a malloc()ed path (never NULL). */
char *tu_mkdtemp(const char *tag);

/* Recursive removal that never follows symlinks. 0, or -1 with errno. */
int tu_rm_rf(const char *path);

/* Removes every registered temp dir now (tu_main does it at the end). */
void tu_cleanup(void);

/* malloc()ed "<a>/<b>" (never NULL). */
char *tu_path_join(const char *a, const char *b);

/* Whole file, NUL-terminated, malloc()ed; *len (optional) gets its size.
 * NULL with errno on failure. */
char *tu_read_file(const char *path, size_t *len);

/* Writes (creates/truncates, mode 0600) the file. Fails the test on error. */
void tu_write_file(const char *path, const void *data, size_t len);

/* mkdir -p of one level (mode 0700); an existing dir is fine. */
void tu_mkdir(const char *path);

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */
/* ------------------------------------------------------------------------ */

/* Forks a child that pauses until killed (it also dies after 120 s, or with
 * this process when forked from the main thread). Registered: killed and
 * reaped when the test ends. */
pid_t tu_spawn_paused(void);

/* Forks a "fake shim": opens fifo_path for writing (blocking until a reader
 * exists), writes the first nbytes (0..4) of the native-endian int status,
 * closes and exits 0 (exit 3 when the open fails, 4 when the write does).
 * Dies after 60 s if the open never completes. Registered. */
pid_t tu_spawn_fake_shim(const char *fifo_path, int status, size_t nbytes);

/* Re-executes this test binary (/proc/self/exe) with argv[1] = case_name and
 * the extra environment entries ("KEY=VALUE", NULL-terminated, may be NULL)
 * added to the current environment. Registered. */
pid_t tu_spawn_self(const char *case_name, const char *const *extra_env);

/* Waits (bounded) for the child to end and reaps it; *status gets the wait
 * status. false on timeout (the child is left running). */
bool tu_reap(pid_t pid, int timeout_ms, int *status);

/* Kills (SIGKILL) and reaps a registered child; a child already reaped is fine. */
void tu_kill_reap(pid_t pid);

/* A pid that names no process any more, with the start time it had: a
 * paused child that was killed and reaped. Safe to hand to the library as a
 * "gone" process (it never refers to this test process). */
void tu_dead_pid(int *pid, unsigned long long *start_time);

/* pid_ppid_info_t whose container and monitor are both such reaped processes. */
pid_ppid_info_t tu_dead_info(void);

/* /proc/<pid>/stat field 22 (start time in clock ticks). false when the
 * process does not exist. */
bool tu_proc_start_time(pid_t pid, unsigned long long *start_time);

/* /proc/<pid>/stat field 3 (R, S, D, Z, ...), or 0 when the process does
 * not exist. */
char tu_proc_state(pid_t pid);

/* true when pid exists and is not a zombie. */
bool tu_proc_running(pid_t pid);

/* true when path is a mount point (listed in /proc/self/mountinfo). */
bool tu_is_mounted(const char *path);

/* true when something exists at path (lstat: a dangling symlink exists). */
bool tu_exists(const char *path);

/* ------------------------------------------------------------------------ */
/* Exit FIFO convenience                                                     */
/* ------------------------------------------------------------------------ */

/* Creates <root>/<id>/ (a container state dir) with its exit FIFO, opens the
 * read end and arms the exit monitor for id with pid_info. Returns the
 * malloc()ed FIFO path; fails the test when any step fails. */
char *tu_arm_monitor(const char *root, const char *id, const pid_ppid_info_t *info,
                     const char *runtime);

/* ------------------------------------------------------------------------ */
/* JSON (yajl_tree) and garbage.json                                         */
/* ------------------------------------------------------------------------ */

/* Parses text; NULL (and a note on stderr) when it is not JSON. Free the
 * result with yajl_tree_free. */
yajl_val tu_json_parse(const char *text);

/* Member key of object obj, or NULL. */
yajl_val tu_json_get(yajl_val obj, const char *key);

/* Integer member; fails the test (at the caller's file:line) when it is
 * missing or not an integer. */
#define tu_json_int(obj, key) tu_json_int_at(__FILE__, __LINE__, (obj), (key))
long long tu_json_int_at(const char *file, int line, yajl_val obj, const char *key);

/* String member or NULL. */
const char *tu_json_str(yajl_val obj, const char *key);

/* Parses <root_dir>/garbage.json. NULL when the file is missing or not JSON. */
yajl_val tu_garbage_load(const char *root_dir);

/* The GcContainers array of a parsed garbage.json, or NULL. */
yajl_val tu_garbage_list(yajl_val tree);

/* The entry of the list whose "id" is id, or NULL. */
yajl_val tu_garbage_entry(yajl_val tree, const char *id);

/* Number of entries in <root_dir>/garbage.json: 0 when missing or "{}",
 * -1 when the file is not JSON or has no array under GcContainers. */
int tu_garbage_count(const char *root_dir);

/* Number of entries with this id in <root_dir>/garbage.json. */
int tu_garbage_count_id(const char *root_dir, const char *id);

#ifdef __cplusplus
}
#endif

#endif /* LIBSUPERVISOR_TESTUTIL_H */
