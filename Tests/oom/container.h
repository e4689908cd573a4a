/*
 * Real runc containers started through the real isulad-shim, as an engine
 * does: a busybox rootfs shared by the case, a config.json per container
 * (memory limit, cgroupsPath "/sup-oom-<pid>-<n>" so the cgroup is unique
 * per test process), the exit FIFO opened before the shim starts, `runc
 * create` by the shim, then the test arms/tracks and runs `runc start`.
 *
 * CHECK/CHECK_MSG fail the case after killing and deleting every container
 * this process started (tu_fail alone would leave them running).
 */
#ifndef LIBSUPERVISOR_OOM_CONTAINER_H
#define LIBSUPERVISOR_OOM_CONTAINER_H

#include <stdbool.h>
#include <sys/types.h>

#include "testutil.h"

#define CT_WAIT_MS 30000
#define MEM_LIMIT 16777216LL /* 16 MiB */

typedef struct ct {
    char id[64];        /* library id = runc id */
    char cgroup[64];    /* relative to each hierarchy root (tracked value) */
    char *dir, *bundle, *state, *runc_root, *fifo;
    int efd;            /* exit FIFO read end until armed (then the library's) */
    pid_t shim;
    pid_ppid_info_t info;
    bool deleted;
} ct;

/* Fails the case after cleaning up every container. */
void ct_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) ct_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
    } while (0)
#define CHECK_MSG(cond, ...)                                                 \
    do {                                                                     \
        if (!(cond)) ct_fail(__FILE__, __LINE__, __VA_ARGS__);               \
    } while (0)

/* system() of a formatted command; its exit status (-1 when killed). */
int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Skips the case (ctest SKIP_RETURN_CODE 77) unless root with runc, the
 * shim and a v1 memory hierarchy are there. */
void ct_require(void);

/* Creates the container (shim + `runc create`, not started): args_json is
 * the process args as a JSON array; mem_limit 0 for none. The pid file is
 * awaited and info filled (init pid, shim pid, start times). */
ct *ct_create(const char *args_json, long long mem_limit);
/* supervisor_track_resource(id, CGROUP, cgroup) and RUNTIME (runc root). */
void ct_track(ct *c);
/* container_supervisor_add_exit_monitor(efd, info, id, "runc"). */
void ct_arm(ct *c);
/* runc start. */
void ct_start(ct *c);
/* runc kill <sig>. */
void ct_kill(ct *c, const char *sig);
/* SUPERVISOR_FAILPOINTS for the shims started next (NULL: none). */
extern const char *ct_shim_failpoints;
/* Reaps the shim (bounded) and force-deletes whatever runc still has. */
void ct_finish(ct *c);

/* "/sys/fs/cgroup/memory/<cgroup>/<file>" (malloc()ed). */
char *ct_memcg_file(const ct *c, const char *file);
/* oom_kill of memory.oom_control in the container's v1 memory cgroup, -1
 * when it cannot be read (cgroup gone). */
long long ct_oom_kill_count(const ct *c);
/* true while the container's v1 memory cgroup directory exists. */
bool ct_memcg_exists(const ct *c);

/* oom_kill of <v1 memory root>/<rel>/memory.oom_control, -1 when unreadable. */
long long memcg_oom_kill(const char *rel);

#endif
