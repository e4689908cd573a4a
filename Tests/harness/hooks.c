/* Engine hooks through supervisor_set_engine_ops. */
#include "harness.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- a recording hook set for one container id ---- */

static int magic_ctx;                   /* &magic_ctx is the ctx every hook must see */
static const char *h_id;                /* the container the case watches */
static pid_ppid_info_t h_info;
static atomic_int bad_ctx, bad_args, in_flight, max_in_flight;
static atomic_int n_alive, n_kill, n_clean, n_resume, n_gc_done, n_log, n_log_warn;
static atomic_int kill_sig = -1;
static atomic_int gc_phase;             /* set by the test before start_gchandler */
static atomic_int alive_at_exit;        /* exit path: alive until the first kill */
static atomic_int alive_in_gc_phase;    /* process_alive(container pid) calls in GC phase */
static atomic_int seq, resume_seq, gc_kill_seq;
static atomic_int clean_fail_left;      /* clean_resource fails while > 0 */

static void enter(void *ctx, const char *id)
{
    if (ctx != &magic_ctx) atomic_fetch_add(&bad_ctx, 1);
    if (id != NULL && strcmp(id, h_id) == 0) {
        int n = atomic_fetch_add(&in_flight, 1) + 1;
        int m = atomic_load(&max_in_flight);
        while (n > m && !atomic_compare_exchange_weak(&max_in_flight, &m, n)) {}
    }
}

static void leave(const char *id)
{
    if (id != NULL && strcmp(id, h_id) == 0) atomic_fetch_sub(&in_flight, 1);
}

static void check_id_runtime(const char *id, const char *runtime)
{
    if (id == NULL || strcmp(id, h_id) != 0 || runtime == NULL || strcmp(runtime, "runc") != 0) {
        fprintf(stderr, "hook got id=%s runtime=%s\n", id ? id : "(null)", runtime ? runtime : "(null)");
        atomic_fetch_add(&bad_args, 1);
    }
}

static int hk_alive(void *ctx, const char *id, const char *runtime, int pid, unsigned long long start)
{
    enter(ctx, id);
    check_id_runtime(id, runtime);
    atomic_fetch_add(&n_alive, 1);
    int r = 0;
    if (pid == h_info.pid) {
        if (start != h_info.start_time) atomic_fetch_add(&bad_args, 1);
        if (!atomic_load(&gc_phase)) {
            /* exit path: alive until killed (when the case asks for it) */
            r = atomic_load(&alive_at_exit) && atomic_load(&n_kill) == 0 ? 1 : 0;
        } else {
            r = atomic_fetch_add(&alive_in_gc_phase, 1) == 0 ? 1 : 0;
        }
    } else if (pid != h_info.ppid) {
        fprintf(stderr, "process_alive for unknown pid %d\n", pid);
        atomic_fetch_add(&bad_args, 1);
    }
    leave(id);
    return r;
}

static int hk_kill(void *ctx, const char *id, const char *runtime, int pid,
                   unsigned long long start, int sig)
{
    enter(ctx, id);
    check_id_runtime(id, runtime);
    if (pid == h_info.pid) {
        if (start != h_info.start_time) atomic_fetch_add(&bad_args, 1);
        atomic_store(&kill_sig, sig);
        atomic_fetch_add(&n_kill, 1);
        int s = atomic_fetch_add(&seq, 1) + 1;
        int zero = 0;
        if (atomic_load(&gc_phase)) atomic_compare_exchange_strong(&gc_kill_seq, &zero, s);
    }
    leave(id);
    return 0;
}

static int hk_clean(void *ctx, const char *id, const char *runtime, int pid)
{
    enter(ctx, id);
    check_id_runtime(id, runtime);
    if (pid != h_info.pid) atomic_fetch_add(&bad_args, 1);
    atomic_fetch_add(&n_clean, 1);
    int r = atomic_fetch_sub(&clean_fail_left, 1) > 0 ? 1 : 0;
    leave(id);
    return r;
}

static void hk_stopped(void *ctx, const char *id, int pid, int code)
{
    enter(ctx, id);
    tu_events_record(tu_stopped, id, pid, code);
    leave(id);
}

static void hk_gc_done(void *ctx, const char *id)
{
    enter(ctx, id);
    atomic_fetch_add(&n_gc_done, 1);
    tu_events_record(tu_gc_done, id, 0, 0);
    leave(id);
}

static int hk_resume(void *ctx, const char *id, const char *runtime)
{
    enter(ctx, id);
    check_id_runtime(id, runtime);
    atomic_fetch_add(&n_resume, 1);
    int s = atomic_fetch_add(&seq, 1) + 1;
    int zero = 0;
    atomic_compare_exchange_strong(&resume_seq, &zero, s);
    leave(id);
    return 0;
}

static void hk_log(void *ctx, int level, const char *msg)
{
    if (ctx != &magic_ctx) atomic_fetch_add(&bad_ctx, 1);
    atomic_fetch_add(&n_log, 1);
    if (level <= 4) atomic_fetch_add(&n_log_warn, 1);
    if (msg == NULL) atomic_fetch_add(&bad_args, 1);
    tu_events_record(tu_logs, "log", 0, level);
    fprintf(stderr, "[%s] lib log %d: %s\n", tu_case_name(), level, msg ? msg : "(null)");
}

static supervisor_engine_ops_t full_ops(void)
{
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof(ops));
    ops.struct_size = sizeof(ops);
    ops.ctx = &magic_ctx;
    ops.process_alive = hk_alive;
    ops.kill_process = hk_kill;
    ops.clean_resource = hk_clean;
    ops.container_stopped = hk_stopped;
    ops.gc_done = hk_gc_done;
    ops.resume = hk_resume;
    ops.log = hk_log;
    return ops;
}

static char *hooks_setup(const char *tag, const char *id)
{
    char *root = tu_setup_root(tag);
    tu_stopped = tu_events_new();
    tu_gc_done = tu_events_new();
    tu_logs = tu_events_new();
    h_id = id;
    h_info = tu_dead_info();
    supervisor_engine_ops_t ops = full_ops();
    ASSERT_OK(supervisor_set_engine_ops(&ops));
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    return root;
}

static void check_clean_calls(void)
{
    ASSERT_EQ(atomic_load(&bad_ctx), 0);
    ASSERT_EQ(atomic_load(&bad_args), 0);
    ASSERT_MSG(atomic_load(&max_in_flight) <= 1, "%d hooks in flight for one id", atomic_load(&max_in_flight));
}

/* Exit path: process_alive says alive → kill_process(SIGKILL) → re-check
 * says gone → clean_resource → container_stopped. log gets failures. */
TEST(hooks_exit_path)
{
    char *root = hooks_setup("hooks-exit", "hk1");
    atomic_store(&alive_at_exit, 1);
    char *fifo = tu_arm_monitor(root, h_id, &h_info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 9, sizeof(int));
    h_expect_stopped(h_id, h_info.pid, 9);
    h_reap_shim(shim);
    ASSERT_MSG(atomic_load(&n_alive) >= 2, "process_alive called %d times", atomic_load(&n_alive));
    ASSERT_MSG(atomic_load(&n_kill) >= 1, "kill_process never called");
    ASSERT_EQ(atomic_load(&kill_sig), SIGKILL);
    ASSERT_EQ(atomic_load(&n_clean), 1);
    ASSERT_EQ(atomic_load(&n_resume), 0);
    ASSERT_EQ(atomic_load(&n_gc_done), 0);
    ASSERT_EQ(supervisor_container_state(h_id), SUPERVISOR_STATE_NONE);

    /* A refused call logs one line through the log hook. */
    int before = atomic_load(&n_log_warn);
    ASSERT_FAILS(supervisor_set_option("no_such_option", "1"), EINVAL);
    ASSERT_MSG(tu_events_wait_total(tu_logs, 1, H_WAIT_MS), "log hook never called");
    ASSERT_MSG(atomic_load(&n_log_warn) > before, "no warning/error line for a refused call");
    tu_sleep_ms(H_QUIET_MS);
    ASSERT_EQ(tu_events_count(tu_stopped, h_id), 1);
    check_clean_calls();
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* GC path: clean fails once → GC → container_stopped; the collector finds the
 * process alive once → resume, then kill_process(SIGKILL); next attempt
 * cleans → gc_done. */
TEST(hooks_gc_resume)
{
    char *root = hooks_setup("hooks-gc", "hk2");
    atomic_store(&clean_fail_left, 1);
    char *fifo = tu_arm_monitor(root, h_id, &h_info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 4, sizeof(int));
    h_expect_stopped(h_id, h_info.pid, 4);
    h_reap_shim(shim);
    ASSERT_EQ(supervisor_container_state(h_id), SUPERVISOR_STATE_GC);
    ASSERT(gc_is_gc_progress(h_id));
    ASSERT_EQ(atomic_load(&n_kill), 0); /* never alive in the exit path */

    atomic_store(&gc_phase, 1);
    ASSERT_OK(start_gchandler());
    ASSERT_MSG(tu_events_wait(tu_gc_done, h_id, 1, H_WAIT_MS), "no gc_done");
    ASSERT_MSG(atomic_load(&n_resume) >= 1, "resume hook not called for a live container in GC");
    ASSERT_MSG(atomic_load(&gc_kill_seq) > 0, "kill_process not called in GC for a live container");
    ASSERT_MSG(atomic_load(&resume_seq) < atomic_load(&gc_kill_seq),
               "resume (seq %d) did not come before SIGKILL (seq %d)",
               atomic_load(&resume_seq), atomic_load(&gc_kill_seq));
    ASSERT_EQ(atomic_load(&kill_sig), SIGKILL);
    ASSERT_EQ(atomic_load(&n_clean), 2);
    ASSERT_EQ(supervisor_container_state(h_id), SUPERVISOR_STATE_NONE);
    ASSERT(!gc_is_gc_progress(h_id));
    ASSERT_EQ(tu_garbage_count_id(root, h_id), 0);
    tu_sleep_ms(H_QUIET_MS);
    ASSERT_EQ(tu_events_count(tu_stopped, h_id), 1);
    ASSERT_EQ(tu_events_count(tu_gc_done, h_id), 1);
    check_clean_calls();
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

TEST(hooks_struct_size)
{
    supervisor_engine_ops_t ops = full_ops();
    ops.struct_size = 0;
    ASSERT_FAILS(supervisor_set_engine_ops(&ops), EINVAL);
    ops.struct_size = offsetof(supervisor_engine_ops_t, log);
    ASSERT_FAILS(supervisor_set_engine_ops(&ops), EINVAL);
    /* The 1.0 struct (up to log) and sizes up to this header's: accepted,
     * only the members the size covers are read (tests/oom covers the hook). */
    ops.struct_size = offsetof(supervisor_engine_ops_t, container_oom);
    ASSERT_OK(supervisor_set_engine_ops(&ops));
    ops.struct_size = sizeof(ops) - 1;
    ASSERT_OK(supervisor_set_engine_ops(&ops));
    ops.struct_size = sizeof(ops);
    ASSERT_OK(supervisor_set_engine_ops(&ops));
    /* A newer header's larger struct is accepted. */
    struct { supervisor_engine_ops_t ops; void *future[8]; } big;
    memset(&big, 0, sizeof(big));
    big.ops = full_ops();
    big.ops.struct_size = sizeof(big);
    ASSERT_OK(supervisor_set_engine_ops(&big.ops));
    /* All-NULL hooks with the right size: defaults. */
    supervisor_engine_ops_t empty;
    memset(&empty, 0, sizeof(empty));
    empty.struct_size = sizeof(empty);
    ASSERT_OK(supervisor_set_engine_ops(&empty));
    ASSERT_OK(supervisor_set_engine_ops(NULL));
}

struct state_is { const char *id; supervisor_state_t want; };

static bool state_reached(void *arg)
{
    struct state_is *s = arg;
    return supervisor_container_state(s->id) == s->want;
}

/* After supervisor_set_engine_ops(NULL) none of the old hooks runs. */
TEST(hooks_null_restores)
{
    char *root = hooks_setup("hooks-null", "hk3");
    ASSERT_OK(supervisor_set_engine_ops(NULL));
    char *fifo = tu_arm_monitor(root, h_id, &h_info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    struct state_is s = { h_id, SUPERVISOR_STATE_NONE };
    /* No hook to wait on any more: poll the state (bounded). */
    ASSERT_MSG(tu_poll_until(state_reached, &s, H_WAIT_MS), "exit not handled with default hooks");
    h_reap_shim(shim);
    tu_sleep_ms(H_QUIET_MS);
    ASSERT_EQ(tu_events_total(tu_stopped), 0);
    ASSERT_EQ(atomic_load(&n_alive), 0);
    ASSERT_EQ(atomic_load(&n_kill), 0);
    ASSERT_EQ(atomic_load(&n_clean), 0);
    ASSERT_FAILS(supervisor_set_option("no_such_option", "1"), EINVAL);
    ASSERT_EQ(atomic_load(&n_log), 0);
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* ---- a hook calling back into the library ---- */

static atomic_int reentry_shutdown_rc = 99, reentry_shutdown_errno, reentry_state = -1;
static atomic_int reentry_status_ok;

static void reentrant_stopped(void *ctx, const char *id, int pid, int code)
{
    (void)ctx;
    atomic_store(&reentry_state, (int)supervisor_container_state(id));
    char *status = supervisor_status_json();
    yajl_val v = status ? tu_json_parse(status) : NULL;
    atomic_store(&reentry_status_ok, v != NULL);
    yajl_tree_free(v);
    free(status);
    errno = 0;
    int r = supervisor_shutdown();
    atomic_store(&reentry_shutdown_errno, errno);
    atomic_store(&reentry_shutdown_rc, r);
    tu_events_record(tu_stopped, id, pid, code);
}

/* From a hook: other functions work (state already final), shutdown is EDEADLK. */
TEST(hooks_shutdown_edeadlk)
{
    char *root = tu_setup_root("hooks-edeadlk");
    tu_stopped = tu_events_new();
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof(ops));
    ops.struct_size = sizeof(ops);
    ops.container_stopped = reentrant_stopped;
    ASSERT_OK(supervisor_set_engine_ops(&ops));
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, "reenter", &info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    h_expect_stopped("reenter", info.pid, 0);
    h_reap_shim(shim);
    ASSERT_EQ(atomic_load(&reentry_shutdown_rc), -1);
    ASSERT_EQ(atomic_load(&reentry_shutdown_errno), EDEADLK);
    ASSERT_MSG(atomic_load(&reentry_state) == SUPERVISOR_STATE_NONE,
               "state seen from container_stopped: %d, want NONE (updated before the hook)",
               atomic_load(&reentry_state));
    ASSERT_MSG(atomic_load(&reentry_status_ok), "supervisor_status_json from a hook failed");
    /* The library is still running: another exit is handled. */
    char *fifo2 = tu_arm_monitor(root, "after", &info, "runc");
    shim = tu_spawn_fake_shim(fifo2, 1, sizeof(int));
    h_expect_stopped("after", info.pid, 1);
    h_reap_shim(shim);
    free(fifo2);
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

static const tu_case cases[] = {
    TU_CASE(hooks_exit_path),
    TU_CASE(hooks_gc_resume),
    TU_CASE(hooks_struct_size),
    TU_CASE(hooks_null_restores),
    TU_CASE(hooks_shutdown_edeadlk),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
