/*
 * Hooks may call back into the library (SPEC section 2), from any hook,
 * at any time, shutdown included: none of it may deadlock.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_int log_calls, in_hook_queries;

/* A log hook that queries the library: lines are logged from inside library
 * locks, so this hook must never run with one of them held. */
static void querying_log(void *ctx, int level, const char *msg)
{
    (void)ctx; (void)level; (void)msg;
    atomic_fetch_add(&log_calls, 1);
    (void)gc_is_gc_progress("reent-gc");
    char *s = supervisor_status_json();
    if (s != NULL) atomic_fetch_add(&in_hook_queries, 1);
    free(s);
}

static atomic_int clean_calls;
static int failing_twice(void *ctx, const char *id, const char *runtime, int pid)
{
    (void)ctx; (void)id; (void)runtime; (void)pid;
    return atomic_fetch_add(&clean_calls, 1) < 2 ? 1 : 0;
}

static tu_events *done_events;
static void on_gc_done(void *ctx, const char *id) { (void)ctx; tu_events_record(done_events, id, 0, 0); }

TEST(log_hook_calls_in)
{
    tu_setup_root("reent-log");
    done_events = tu_events_new();
    supervisor_engine_ops_t ops = { 0 };
    ops.struct_size = sizeof ops;
    ops.log = querying_log;
    ops.clean_resource = failing_twice;
    ops.gc_done = on_gc_done;
    ASSERT_OK(supervisor_set_engine_ops(&ops));
    ASSERT_OK(supervisor_set_option("log_level", "debug"));
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    pid_ppid_info_t info = { 0 };
    ASSERT_OK(gc_add_container("reent-gc", "runc", &info));
    ASSERT_MSG(tu_events_wait(done_events, "reent-gc", 1, 10000), "no gc_done: a log hook calling in wedged the GC");
    ASSERT_OK(supervisor_shutdown());
    ASSERT(atomic_load(&log_calls) > 0);
    ASSERT(atomic_load(&in_hook_queries) > 0);
}

static tu_gate hook_entered;
static atomic_int restart_rc = 1, restart_errno;

/* container_stopped that tries to start the supervisor again while
 * supervisor_shutdown is draining the pool (a restart policy would). */
static void restarting_stopped(void *ctx, const char *id, int pid, int code)
{
    (void)ctx; (void)id; (void)pid; (void)code;
    tu_gate_open(&hook_entered);
    /* Until the main thread is inside supervisor_shutdown, starting is a
     * no-op (0); from then on it must fail fast, not wait for shutdown. */
    int rc = 0;
    long long deadline = tu_now_ms() + 10000;
    while ((rc = new_supervisor()) == 0 && tu_now_ms() < deadline) tu_sleep_ms(5);
    atomic_store(&restart_errno, errno);
    atomic_store(&restart_rc, rc);
}

TEST(start_from_hook_during_shutdown)
{
    char *root = tu_setup_root("reent-stop");
    tu_gate_init(&hook_entered);
    supervisor_engine_ops_t ops = { 0 };
    ops.struct_size = sizeof ops;
    ops.container_stopped = restarting_stopped;
    ASSERT_OK(supervisor_set_engine_ops(&ops));
    ASSERT_OK(new_supervisor());
    pid_ppid_info_t info = { 0 };
    tu_dead_pid(&info.pid, &info.start_time);
    char *fifo = tu_arm_monitor(root, "reent-c", &info, "runc");
    int w = open(fifo, O_WRONLY | O_CLOEXEC);
    ASSERT(w >= 0);
    int status = 3;
    ASSERT(write(w, &status, sizeof status) == (ssize_t)sizeof status);
    close(w);
    ASSERT_MSG(tu_gate_wait(&hook_entered, 10000), "container_stopped never ran");
    ASSERT_OK(supervisor_shutdown()); /* must come back: the hook gets ESHUTDOWN */
    ASSERT_EQ(atomic_load(&restart_rc), -1);
    ASSERT_EQ(atomic_load(&restart_errno), ESHUTDOWN);
    ASSERT_OK(new_supervisor()); /* and from the engine's own thread it starts */
    ASSERT_OK(supervisor_shutdown());
    free(fifo);
}

static const tu_case cases[] = {
    TU_CASE(log_hook_calls_in),
    TU_CASE(start_from_hook_during_shutdown),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
