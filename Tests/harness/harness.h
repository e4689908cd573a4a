/* Small set-up helpers shared by the harness cases (testutil.h has the rest). */
#ifndef LIBSUPERVISOR_HARNESS_H
#define LIBSUPERVISOR_HARNESS_H

#include <sys/wait.h>

#include "testutil.h"

/* Deadline for anything the library should do promptly. */
#define H_WAIT_MS 10000
/* Window for "nothing happens" checks. */
#define H_QUIET_MS 300

/* Fresh root (short timings), recording hooks with the given clean hook, then
 * new_supervisor + new_gchandler. Returns the root dir. */
static inline char *h_setup(const char *tag,
                            int (*clean)(void *ctx, const char *id, const char *runtime, int pid))
{
    char *root = tu_setup_root(tag);
    tu_install_recorder(clean);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    return root;
}

/* pid_info naming processes that are gone (pid and ppid). */

/* Waits for one container_stopped of id and checks pid and exit code. */
static inline void h_expect_stopped(const char *id, int pid, int code)
{
    ASSERT_MSG(tu_events_wait(tu_stopped, id, 1, H_WAIT_MS),
               "no container_stopped for %s within %d ms", id, H_WAIT_MS);
    int got_pid = -1, got_code = -1;
    ASSERT(tu_events_last(tu_stopped, id, &got_pid, &got_code));
    ASSERT_MSG(got_pid == pid, "%s: container_stopped pid %d, want %d", id, got_pid, pid);
    ASSERT_MSG(got_code == code, "%s: container_stopped exit code %d, want %d", id, got_code, code);
}

/* Reaps a fake shim and checks it delivered its bytes (exit 0). */
static inline void h_reap_shim(pid_t pid)
{
    int st = 0;
    ASSERT_MSG(tu_reap(pid, H_WAIT_MS, &st), "fake shim %d did not finish", (int)pid);
    ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fake shim %d: wait status 0x%x", (int)pid, st);
}

#endif /* LIBSUPERVISOR_HARNESS_H */
