/*
 * libsupervisor — container exit supervisor and resource garbage collector.
 *
 * A drop-in for iSulad's supervisor and gc modules. Conventions for every
 * function below:
 *   - int results: 0 on success, -1 on failure with errno set (EINVAL bad
 *     argument, ENAMETOOLONG, EEXIST, ENOTSUP, ...) and one log line.
 *   - char * results are malloc()ed; the caller free()s them.
 *   - NULL, negative fds, empty strings, paths of PATH_MAX bytes or more and
 *     container ids holding '/', "..", or control characters are refused.
 *   - Every function is thread-safe. Engine hooks run on library worker
 *     threads, never on the epoll thread, with at most one hook in flight per
 *     container id. A hook may call any function here except
 *     supervisor_shutdown(), which then fails with EDEADLK.
 */
#ifndef LIBSUPERVISOR_SUPERVISOR_H
#define LIBSUPERVISOR_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pid_ppid_info_t {
    int pid;                         /* container init process */
    int ppid;                        /* its monitor (the shim) */
    unsigned long long start_time;   /* /proc/<pid>/stat field 22 (clock ticks since boot) */
    unsigned long long pstart_time;  /* same, for ppid */
} pid_ppid_info_t;

/* --- the seed's documented iSulad API: these exact names, arguments and meaning --- */

/* Starts the supervisor: one epoll thread plus the bounded worker pool.
 * Idempotent while running. 0 / -1 with errno. */
int   new_supervisor(void);

/* "<cont_state_path>/exit_fifo", malloc()ed (caller frees), or NULL with
 * errno (EINVAL, ENAMETOOLONG when the result reaches PATH_MAX). */
char *exit_fifo_name(const char *cont_state_path);

/* Arms the exit monitor on fd (a FIFO read end from container_exit_fifo_open).
 * On success the library owns fd and closes it; on failure the caller still
 * owns it. name is the container id, runtime the OCI runtime name (e.g. "runc").
 * pid_info is copied. When the shim writes the 4-byte status (or closes the
 * FIFO early: 137), the container is cleaned up on a worker thread and the
 * container_stopped hook runs exactly once. EEXIST when the id is armed;
 * EBADF when fd is not an open descriptor. */
int   container_supervisor_add_exit_monitor(int fd, const pid_ppid_info_t *pid_info,
                                            const char *name, const char *runtime);

/* Opens the read end O_RDONLY|O_NONBLOCK|O_CLOEXEC; symlinks and non-FIFOs are
 * refused (ELOOP / EINVAL). Returns the fd, or -1 with errno. */
int   container_exit_fifo_open(const char *cont_exit_fifo);

/* Creates "<cont_state_path>/exit_fifo" with mode 0600 (an existing FIFO is
 * fine; a symlink or another file type is EEXIST). Returns the malloc()ed path
 * (caller frees), or NULL with errno. */
char *container_exit_fifo_create(const char *cont_state_path);

/* Initialises the GC and restores <root_dir>/garbage.json (a damaged file:
 * not JSON, comments, nesting deeper than 64, over 64 MiB, is kept aside as
 * garbage.json.corrupt-<unix-time>). An entry whose id, runtime or tracked
 * values fail this API's checks, or whose id repeats, is skipped with an
 * error line and kept in the file as it was. 0 / -1 with errno. */
int   new_gchandler(void);

/* Puts a container in the GC list. Returns only once the entry is durable on
 * disk; a second add of the same id replaces the first. 0 / -1 with errno. */
int   gc_add_container(const char *id, const char *runtime, const pid_ppid_info_t *pid_info);

/* Re-reads garbage.json and merges its entries; idempotent. 0 / -1 with errno. */
int   gc_restore(void);

/* Starts the collector thread (event-driven; no wake-ups while the list is empty). */
int   start_gchandler(void);

/* true while id is in the GC list, and until its removal is durable and its
 * gc_done hook has returned (a call racing gc_done waits for it, at most
 * 100 ms; gc_done itself already sees false). */
bool  gc_is_gc_progress(const char *id);

/* --- engine integration --- */

typedef struct supervisor_engine_ops {
    size_t struct_size;  /* = sizeof(supervisor_engine_ops_t); lets the struct grow */
    void  *ctx;          /* passed back to every hook */
    /* 1 alive, 0 gone, -1 error. Default: /proc/<pid>/stat start-time check. */
    int  (*process_alive)(void *ctx, const char *id, const char *runtime,
                          int pid, unsigned long long start_time);
    /* 0 sent or already gone, -1 error. Default: pidfd_open + start-time check
       + pidfd_send_signal, so a reused PID is never signalled. */
    int  (*kill_process)(void *ctx, const char *id, const char *runtime,
                         int pid, unsigned long long start_time, int sig);
    /* 0 released, non-zero: something remains, the container goes/stays in GC.
       Runs after the built-in cleaner (section 5). NULL: built-in cleaner only. */
    int  (*clean_resource)(void *ctx, const char *id, const char *runtime, int pid);
    /* Exactly once per monitored exit, after cleanup succeeded or the
       container entered GC; exit_code is 137 when unknown. */
    void (*container_stopped)(void *ctx, const char *id, int pid, int exit_code);
    /* The container left the GC list: all its resources are released. */
    void (*gc_done)(void *ctx, const char *id);
    /* Optional: resume a paused container before GC kills it. */
    int  (*resume)(void *ctx, const char *id, const char *runtime);
    /* Log sink; level is a syslog priority (3 error, 4 warning, 6 info, 7 debug).
       Default: stderr, warning and above. */
    void (*log)(void *ctx, int level, const char *msg);
    /* Since 1.1; called only when struct_size covers it (an engine built
       against 1.0 is never called here). OOM kills in the CGROUP resources
       tracked for an armed container: oom_kills is the cumulative count (the
       cgroup's own counter, so kills before arming are reported at arming).
       Called when the count grows; an OOM kill that ended the container is
       always reported before that container's container_stopped. */
    void (*container_oom)(void *ctx, const char *id, unsigned long long oom_kills);
} supervisor_engine_ops_t;

/* Installs the engine's hooks (copied; NULL members keep the defaults).
 * NULL restores every default. EINVAL when struct_size is too small to hold
 * the fields up to log (the 1.0 struct); members past struct_size are never
 * read, and larger sizes (a newer header) are accepted. */
int supervisor_set_engine_ops(const supervisor_engine_ops_t *ops);   /* NULL: defaults */

/* Sets an option (table in the README: root_dir, kill_retries,
 * kill_retry_interval_ms, gc_retry_initial_ms, gc_retry_max_ms,
 * gc_stuck_after, workers, mount_detach_after, log_level).
 * Unknown key or bad value: -1 with EINVAL. */
int supervisor_set_option(const char *key, const char *value);       /* see table */

typedef enum {
    SUPERVISOR_RES_CGROUP  = 1,  /* cgroup path relative to the hierarchy roots */
    SUPERVISOR_RES_MOUNT   = 2,  /* absolute mount point */
    SUPERVISOR_RES_PATH    = 3,  /* absolute file or directory to remove */
    SUPERVISOR_RES_RUNTIME = 4,  /* runtime state root: `<runtime> --root V delete --force <id>` */
} supervisor_resource_kind_t;

/* Records a resource of container id, released (in reverse order of
 * tracking) by the built-in cleaner when the container stops, and saved with
 * its GC entry. EINVAL for a bad value (relative MOUNT/PATH/RUNTIME, absolute
 * CGROUP, "..", "/"). Where the resource goes depends on id's state:
 *  - RUNNING or STOPPING: released at that exit (one tracked while the exit
 *    is being handled joins that cleanup, or its GC entry if it failed);
 *    a CGROUP is watched for OOM kills from now on (container_oom);
 *  - GC: appended to the GC entry (durable on return);
 *  - its exit was already handled (and it was not armed or GC-added since;
 *    the last 4096 such ids are remembered): released at once on a worker,
 *    what fails enters the GC list under id (gc_done when released);
 *  - never armed: kept for id's next arm (or gc_add_container), at most 1024
 *    such ids and 64 resources each (ENOSPC beyond); supervisor_shutdown
 *    discards them (with a warning line).
 *    Resources of ids armed when supervisor_shutdown closes their FIFOs are
 *    kept for their next arm (within the same bounds).
 * Track after arming (the exit then cannot be missed in between); to track
 * for a restarted container that reuses an id, arm it first. */
int supervisor_track_resource(const char *id, supervisor_resource_kind_t kind, const char *value);

typedef enum {
    SUPERVISOR_STATE_NONE = 0,      /* not known: never seen, or stopped and released */
    SUPERVISOR_STATE_RUNNING = 1,   /* exit monitor armed */
    SUPERVISOR_STATE_STOPPING = 2,  /* exit seen, cleanup in progress */
    SUPERVISOR_STATE_GC = 3,        /* in the GC list */
} supervisor_state_t;

/* Current state of id; NONE for unknown ids and bad input. */
supervisor_state_t supervisor_container_state(const char *id);

char *supervisor_status_json(void);  /* snapshot: monitors, GC entries with attempts,
                                         last error, next retry, stuck; caller free()s */

/* The exit record the shim left in a state dir (section 6): 0 and *exit_code set,
   or -1 with ENOENT when there is none (the status is then unknown, not 0/137/255).
   EINVAL for a damaged or out-of-range record (comments and nesting deeper
   than 64 included); symlinks are not followed. */
int   supervisor_exit_record(const char *cont_state_path, int *exit_code);

/* Stops the threads, closes every fd, flushes the GC list. The library can be
 * started again afterwards. EDEADLK when called from a hook. When the final
 * write of the GC list fails (full or read-only filesystem), everything else
 * is still done and it returns -1 with that write's errno (ENOSPC, EROFS...):
 * changes since the last good write were only in memory. The status JSON's
 * "gc_write_error" then says so until the GC list is opened again. */
int   supervisor_shutdown(void);     /* stop threads, close fds, flush GC; restartable */

/* Static version string, e.g. "1.0.0". Never free()d. */
const char *supervisor_version(void);

/* The release this header belongs to (since 1.1.0; supervisor_version() names
 * the library actually loaded). The one place the version is written: the
 * library, supervisor.pc, the Debian packages and the library's file name
 * libsupervisor.so.MAJOR.MINOR.PATCH all take it from here. MAJOR is the
 * SONAME's: it changes only if the ABI ever breaks. */
#define SUPERVISOR_VERSION_MAJOR 1
#define SUPERVISOR_VERSION_MINOR 1
#define SUPERVISOR_VERSION_PATCH 0
#define SUPERVISOR_VERSION "1.1.0"

#ifdef __cplusplus
}
#endif

#endif /* LIBSUPERVISOR_SUPERVISOR_H */
