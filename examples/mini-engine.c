/*
 * mini-engine — a small container engine that drives real runc containers
 * through isulad-shim and libsupervisor, the way iSulad does.
 *
 * Per container:
 *   state dir <root>/run/<id> (process.json, exit_fifo, pid, the shim's
 *   files, bundle/config.json, runc's root <state>/runc) and a tmpfs mounted
 *   at <state>/data, bind-mounted into the container as /data; cgroup
 *   /supdemo-<id> in every hierarchy.
 *   container_exit_fifo_create -> container_exit_fifo_open (read end open
 *   before the shim starts, so no status can be lost) -> start the shim (fork,
 *   chdir state dir, setsid, exec isulad-shim <id> <bundle> runc with
 *   ISULAD_SHIIM_LOG_PATH/LEVEL) -> wait for the pid file (runc create done)
 *   -> pid_ppid_info_t from /proc -> container_supervisor_add_exit_monitor ->
 *   runc start. Every resource is tracked with supervisor_track_resource, so
 *   the library releases it when the container stops, or later from GC.
 *
 * The scenario (roles): exit0, exit7, sigterm (traps TERM, exits 143),
 * shimkill (paused, then its shim is SIGKILLed: 137, GC resumes and kills
 * it), busymount (a holder keeps its cwd in the tracked tmpfs: GC retries,
 * across an engine restart, until the holder is killed), oom (16 MiB memory
 * limit, `tail /dev/zero`: container_oom, then container_stopped 137).
 * Phase 1 runs the containers, then restarts the engine: supervisor_shutdown
 * and exec of a fresh engine image (--resume), which restores garbage.json
 * with new_gchandler, finishes the cleanup and checks that nothing is left.
 *
 *   mini-engine --root DIR --bundle DIR --shim PATH [--prefix P] [--roles a,b]
 *   mini-engine --sweep --root DIR [--prefix P] [--roles a,b]   (emergency cleanup)
 * Exit status 0 when every exit code matched and nothing was left behind.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "supervisor.h"

/* ------------------------------------------------------------------------ */
/* The scenario                                                              */
/* ------------------------------------------------------------------------ */

typedef enum { T_NEW, T_RUNNING, T_STOPPING, T_GC, T_STOPPED } table_state;
static const char *const state_names[] = { "CREATED", "RUNNING", "STOPPING", "GC", "STOPPED" };

typedef struct role {
    const char *name;
    const char *script;     /* /bin/sh -c inside the container */
    int expect_code;        /* what container_stopped must report */
    bool expect_gc;         /* must pass through the GC list */
    const char *what;
    long long mem_limit;    /* linux.resources.memory.limit, 0: none */
} role;

static const role roles[] = {
    { "exit0", "echo hello from $(hostname); sleep 1; exit 0", 0, false, "exits 0", 0 },
    { "exit7", "sleep 1; exit 7", 7, false, "exits 7", 0 },
    { "sigterm", "trap 'echo got TERM; exit 143' TERM; while :; do sleep 0.1; done", 143, false,
      "stopped with SIGTERM", 0 },
    { "shimkill", "while :; do sleep 0.1; done", 137, true, "paused, shim SIGKILLed", 0 },
    { "busymount", "echo busy > /data/file; sleep 1; exit 0", 0, true, "tracked mount held busy", 0 },
    { "oom", "echo allocating past 16 MiB; exec tail /dev/zero", 137, false, "OOM-killed (16 MiB)",
      16LL << 20 },
};
#define NROLES (sizeof(roles) / sizeof(roles[0]))

typedef struct container {
    const role *role;
    char id[96];
    char state_dir[PATH_MAX / 2];
    char bundle[PATH_MAX / 2];
    char data[PATH_MAX / 2];       /* the tmpfs mount point */
    char runc_root[PATH_MAX / 2];
    char cgroup[128];              /* relative to each hierarchy root */
    pid_t shim_pid;
    int shim_status;               /* wait status, -1 until reaped */
    pid_ppid_info_t info;
    /* updated by hooks (under mu) and the main loop */
    table_state state;
    char path[128];                /* states seen, "RUNNING>STOPPING>GC>STOPPED" */
    int exit_code;                 /* -1 until container_stopped */
    bool stopped_hook;
    bool gc_done;
    bool went_gc;
    bool active;
    unsigned long long oom_kills;  /* last container_oom */
    bool oom_before_stop;          /* a container_oom came before container_stopped */
} container;

static container cs[NROLES];
static size_t ncs;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static struct timespec t0;
static const char *g_root, *g_bundle, *g_shim, *g_prefix = "demo";
static char g_lib_dir[1100];
static bool g_color;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static double elapsed(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
}

static long long now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    flockfile(stdout);
    printf("[%6.2fs] ", elapsed());
    vprintf(fmt, ap);
    putchar('\n');
    funlockfile(stdout);
    fflush(stdout);
    va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static int write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return -1;
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { int e = errno; close(fd); errno = e; return -1; }
        p += n; len -= (size_t)n;
    }
    return close(fd);
}

static char *read_file(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return NULL;
    char *buf = malloc(max + 1);
    size_t len = 0;
    while (buf && len < max) {
        ssize_t n = read(fd, buf + len, max - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    close(fd);
    if (buf) buf[len] = 0;
    return buf;
}

/* /proc/<pid>/stat field 22 (start time) and field 3 (state). */
static bool proc_stat(pid_t pid, unsigned long long *start, char *state)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *s = read_file(path, 4096);
    if (!s) return false;
    char *p = strrchr(s, ')'); /* comm may hold spaces and parentheses */
    bool ok = false;
    if (p) {
        char st = 0;
        unsigned long long v = 0;
        /* after ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt
           majflt cmajflt utime stime cutime cstime priority nice threads
           itrealvalue starttime(22) */
        ok = sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                    &st, &v) == 2;
        if (ok && start) *start = v;
        if (ok && state) *state = st;
    }
    free(s);
    return ok;
}

/* Alive = exists, not a zombie, and (when given) the same start time. */
static bool proc_alive(pid_t pid, unsigned long long start)
{
    unsigned long long st = 0;
    char state = 0;
    if (pid <= 0 || !proc_stat(pid, &st, &state)) return false;
    if (state == 'Z' || state == 'X') return false;
    return start == 0 || st == start;
}

/* Runs argv (no shell) with a deadline; stdout+stderr captured into out
 * (optional). Returns the exit status, or -1 (spawn error or timeout:
 * the child is killed). */
static int run(const char *const argv[], int timeout_ms, char *out, size_t outlen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) { close(fds[0]); close(fds[1]); return -1; }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    size_t len = 0;
    char sink[512];
    long long deadline = now_ms() + timeout_ms;
    int status = -1;
    for (;;) {
        for (;;) {
            char *dst = out && len + 1 < outlen ? out + len : sink;
            size_t cap = out && len + 1 < outlen ? outlen - 1 - len : sizeof sink;
            ssize_t n = read(fds[0], dst, cap);
            if (n <= 0) break;
            if (dst != sink) len += (size_t)n;
        }
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            status = -1;
            break;
        }
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    for (;;) { /* what is left in the pipe */
        char *dst = out && len + 1 < outlen ? out + len : sink;
        size_t cap = out && len + 1 < outlen ? outlen - 1 - len : sizeof sink;
        ssize_t n = read(fds[0], dst, cap);
        if (n <= 0) break;
        if (dst != sink) len += (size_t)n;
    }
    close(fds[0]);
    if (out && outlen) out[len] = 0;
    if (status == -1) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int runc(container *c, const char *verb, const char *arg, char *out, size_t outlen)
{
    const char *argv[] = { "runc", "--root", c->runc_root, verb, c->id, arg, NULL };
    return run(argv, 10000, out, outlen);
}

static bool is_mounted(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char mnt[PATH_MAX];
        if (sscanf(line, "%*d %*d %*s %*s %4095s", mnt) == 1 && strcmp(mnt, path) == 0) found = true;
    }
    fclose(f);
    return found;
}

/* Hierarchy roots: every cgroup / cgroup2 mount. Calls fn(root) for each. */
static int count_cgroup_dirs(const char *rel, bool remove)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) return 0;
    char line[4096];
    int left = 0;
    while (fgets(line, sizeof line, f)) {
        char mnt[PATH_MAX], *sep = strstr(line, " - ");
        char fstype[64];
        if (!sep || sscanf(sep + 3, "%63s", fstype) != 1) continue;
        if (strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0) continue;
        if (sscanf(line, "%*d %*d %*s %*s %4095s", mnt) != 1) continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", mnt, rel);
        struct stat st;
        if (lstat(path, &st) == 0) {
            if (remove) rmdir(path);
            if (!remove || lstat(path, &st) == 0) left++;
        }
    }
    fclose(f);
    return left;
}

static int rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return -1;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}

static void mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(tmp, 0700);
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) die("mkdir %s: %s", tmp, strerror(errno));
}

/* ------------------------------------------------------------------------ */
/* The live table                                                            */
/* ------------------------------------------------------------------------ */

static container *find(const char *id)
{
    for (size_t i = 0; i < ncs; i++)
        if (strcmp(cs[i].id, id) == 0) return &cs[i];
    return NULL;
}

/* Called with mu held. */
static void set_state(container *c, table_state s, const char *why)
{
    if (c->state == s) return;
    if (s == T_GC) c->went_gc = true;
    size_t n = strlen(c->path);
    snprintf(c->path + n, sizeof c->path - n, "%s%s", n ? " > " : "", state_names[s]);
    char code[16] = "";
    if (c->exit_code >= 0) snprintf(code, sizeof code, "exit %d", c->exit_code);
    const char *col = !g_color ? "" : s == T_RUNNING ? "\033[32m" : s == T_GC ? "\033[33m"
                      : s == T_STOPPING ? "\033[36m" : s == T_STOPPED ? "\033[1m" : "";
    say("%-22s %-9s -> %s%-8s%s %-8s %s", c->id, state_names[c->state], col, state_names[s],
        g_color ? "\033[0m" : "", code, why ? why : "");
    c->state = s;
    pthread_cond_broadcast(&cv);
}

static void print_table(const char *title)
{
    pthread_mutex_lock(&mu);
    printf("\n  %s\n", title);
    printf("  %-22s %-24s %-9s %-6s %-6s %-4s %s\n", "CONTAINER", "SCENARIO", "STATE", "EXIT", "EXPECT", "OOM", "PATH");
    printf("  %-22s %-24s %-9s %-6s %-6s %-4s %s\n", "---------", "--------", "-----", "----", "------", "---", "----");
    for (size_t i = 0; i < ncs; i++) {
        container *c = &cs[i];
        char code[16] = "-";
        if (c->exit_code >= 0) snprintf(code, sizeof code, "%d", c->exit_code);
        printf("  %-22s %-24s %-9s %-6s %-6d %-4llu %s\n", c->id, c->role->what, state_names[c->state], code,
               c->role->expect_code, c->oom_kills, c->path);
    }
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&mu);
}

/* Polls the library's view (STOPPING and GC have no hook of their own). */
static void refresh_states(void)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < ncs; i++) {
        container *c = &cs[i];
        if (!c->active || c->state == T_STOPPED) continue;
        supervisor_state_t s = supervisor_container_state(c->id);
        if (s == SUPERVISOR_STATE_STOPPING) set_state(c, T_STOPPING, "exit seen, cleaning up");
        else if (s == SUPERVISOR_STATE_GC) set_state(c, T_GC, "cleanup incomplete, in GC");
    }
    pthread_mutex_unlock(&mu);
}

/* ------------------------------------------------------------------------ */
/* Engine hooks (library worker threads)                                     */
/* ------------------------------------------------------------------------ */

static void hook_stopped(void *ctx, const char *id, int pid, int exit_code)
{
    (void)ctx;
    pthread_mutex_lock(&mu);
    container *c = find(id);
    if (c) {
        c->exit_code = exit_code;
        c->stopped_hook = true;
        /* The exit went through STOPPING even when the poll missed it. */
        if (c->state == T_RUNNING) set_state(c, T_STOPPING, "exit seen");
        if (supervisor_container_state(id) == SUPERVISOR_STATE_GC) {
            set_state(c, T_GC, "container_stopped: something remains, handed to GC");
        } else {
            char why[96];
            snprintf(why, sizeof why, "container_stopped (pid %d), all released", pid);
            set_state(c, T_STOPPED, why);
        }
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* OOM kills in the container's tracked cgroup (cumulative count). */
static void hook_oom(void *ctx, const char *id, unsigned long long oom_kills)
{
    (void)ctx;
    pthread_mutex_lock(&mu);
    container *c = find(id);
    if (c) {
        c->oom_kills = oom_kills;
        if (!c->stopped_hook) c->oom_before_stop = true;
        say("%-22s container_oom: %llu OOM kill%s in cgroup %s (state %s)", c->id, oom_kills,
            oom_kills == 1 ? "" : "s", c->cgroup, state_names[c->state]);
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void hook_gc_done(void *ctx, const char *id)
{
    (void)ctx;
    pthread_mutex_lock(&mu);
    container *c = find(id);
    if (c) {
        c->gc_done = true;
        if (c->state != T_GC) set_state(c, T_GC, NULL);
        set_state(c, T_STOPPED, "gc_done: resources released");
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* GC resumes a paused container before killing it (a frozen task does not
 * die of SIGKILL until thawed). */
static int hook_resume(void *ctx, const char *id, const char *runtime)
{
    (void)ctx; (void)runtime;
    container *c = find(id); /* cs[] is immutable while hooks run */
    if (!c) return 0;
    char out[512];
    int rc = runc(c, "resume", NULL, out, sizeof out);
    say("%-22s resume hook: runc resume -> %d %s", id, rc, rc ? out : "");
    return 0;
}

static void hook_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    const char *name = level <= 3 ? "error" : level == 4 ? "warning" : level <= 6 ? "info" : "debug";
    say("  libsupervisor %s: %s", name, msg);
}

static void install_hooks(void)
{
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof ops);
    ops.struct_size = sizeof ops;
    ops.container_stopped = hook_stopped;
    ops.gc_done = hook_gc_done;
    ops.resume = hook_resume;
    ops.log = hook_log;
    ops.container_oom = hook_oom;
    if (supervisor_set_engine_ops(&ops) != 0) die("supervisor_set_engine_ops: %s", strerror(errno));
}

static void set_option(const char *k, const char *v)
{
    if (supervisor_set_option(k, v) != 0) die("supervisor_set_option(%s, %s): %s", k, v, strerror(errno));
}

static void configure_library(void)
{
    set_option("root_dir", g_lib_dir);
    set_option("kill_retries", "10");
    set_option("kill_retry_interval_ms", "100");
    set_option("gc_retry_initial_ms", "200");
    set_option("gc_retry_max_ms", "800");
    /* The demo wants GC to keep retrying a busy mount, not detach it lazily. */
    set_option("mount_detach_after", "1000000");
    set_option("log_level", "warning");
    install_hooks();
}

/* ------------------------------------------------------------------------ */
/* Per-container config.json from the bundle template (yajl_tree -> gen)    */
/* ------------------------------------------------------------------------ */

static void gen_str(yajl_gen g, const char *s) { yajl_gen_string(g, (const unsigned char *)s, strlen(s)); }

static void gen_value(yajl_gen g, yajl_val v, const char *path, const container *c);

static void gen_overrides_end_of(yajl_gen g, const char *path, const container *c)
{
    if (strcmp(path, "linux.resources") == 0 && c->role->mem_limit > 0) {
        gen_str(g, "memory");
        yajl_gen_map_open(g);
        gen_str(g, "limit");
        yajl_gen_integer(g, c->role->mem_limit);
        yajl_gen_map_close(g);
    }
    if (strcmp(path, "linux") == 0) {
        char cg[160];
        snprintf(cg, sizeof cg, "/%s", c->cgroup);
        gen_str(g, "cgroupsPath");
        gen_str(g, cg);
    }
    if (strcmp(path, "mounts") == 0) { /* the tracked tmpfs, bind-mounted as /data */
        yajl_gen_map_open(g);
        gen_str(g, "destination"); gen_str(g, "/data");
        gen_str(g, "type"); gen_str(g, "bind");
        gen_str(g, "source"); gen_str(g, c->data);
        gen_str(g, "options");
        yajl_gen_array_open(g); gen_str(g, "rbind"); gen_str(g, "rw"); yajl_gen_array_close(g);
        yajl_gen_map_close(g);
    }
}

/* true when the member at path was replaced */
static bool gen_override(yajl_gen g, const char *path, const container *c)
{
    if (strcmp(path, "root.path") == 0) {
        char rootfs[PATH_MAX];
        snprintf(rootfs, sizeof rootfs, "%s/rootfs", g_bundle);
        gen_str(g, rootfs);
        return true;
    }
    if (strcmp(path, "process.args") == 0) {
        yajl_gen_array_open(g);
        gen_str(g, "/bin/sh"); gen_str(g, "-c"); gen_str(g, c->role->script);
        yajl_gen_array_close(g);
        return true;
    }
    if (strcmp(path, "process.terminal") == 0) { yajl_gen_bool(g, 0); return true; }
    if (strcmp(path, "hostname") == 0) { gen_str(g, c->role->name); return true; }
    return false;
}

static void gen_value(yajl_gen g, yajl_val v, const char *path, const container *c)
{
    if (YAJL_IS_OBJECT(v)) {
        yajl_gen_map_open(g);
        for (size_t i = 0; i < v->u.object.len; i++) {
            const char *k = v->u.object.keys[i];
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
            if (strcmp(sub, "linux.cgroupsPath") == 0) continue; /* re-added at the end */
            gen_str(g, k);
            if (!gen_override(g, sub, c)) gen_value(g, v->u.object.values[i], sub, c);
        }
        gen_overrides_end_of(g, path, c);
        yajl_gen_map_close(g);
    } else if (YAJL_IS_ARRAY(v)) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s[]", path);
        yajl_gen_array_open(g);
        for (size_t i = 0; i < v->u.array.len; i++) gen_value(g, v->u.array.values[i], sub, c);
        gen_overrides_end_of(g, path, c);
        yajl_gen_array_close(g);
    } else if (YAJL_IS_STRING(v)) {
        gen_str(g, YAJL_GET_STRING(v));
    } else if (YAJL_IS_NUMBER(v)) {
        yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    } else if (YAJL_IS_TRUE(v)) {
        yajl_gen_bool(g, 1);
    } else if (YAJL_IS_FALSE(v)) {
        yajl_gen_bool(g, 0);
    } else {
        yajl_gen_null(g);
    }
}

static void write_config(const container *c)
{
    char tpl_path[PATH_MAX], err[256];
    snprintf(tpl_path, sizeof tpl_path, "%s/config.json", g_bundle);
    char *tpl = read_file(tpl_path, 1 << 20);
    if (!tpl) die("read %s: %s (run examples/make-bundle.sh)", tpl_path, strerror(errno));
    yajl_val tree = yajl_tree_parse(tpl, err, sizeof err);
    free(tpl);
    if (!tree) die("parse %s: %s", tpl_path, err);
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_config(g, yajl_gen_beautify, 1);
    gen_value(g, tree, "", c);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/config.json", c->bundle);
    if (write_file(path, buf, len) != 0) die("write %s: %s", path, strerror(errno));
    yajl_gen_free(g);
    yajl_tree_free(tree);
}

/* process.json: iSulad's shim_client_process_state, as the shim reads it. */
static void write_process_json(const container *c, const char *fifo)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    char log_path[PATH_MAX];
    snprintf(log_path, sizeof log_path, "%s/console.log", c->state_dir);
    yajl_gen_map_open(g);
    gen_str(g, "exit_fifo"); gen_str(g, fifo);
    gen_str(g, "open_tty"); yajl_gen_bool(g, 0);
    gen_str(g, "open_stdin"); yajl_gen_bool(g, 0);
    gen_str(g, "runtime"); gen_str(g, "runc");
    gen_str(g, "runtimeArgs"); yajl_gen_array_open(g); yajl_gen_array_close(g);
    gen_str(g, "logPath"); gen_str(g, log_path);
    gen_str(g, "logMaxfile"); yajl_gen_integer(g, 2);
    gen_str(g, "logMaxsize"); yajl_gen_integer(g, 1 << 20);
    gen_str(g, "systemdCgroup"); yajl_gen_bool(g, 0);
    gen_str(g, "noPivotRoot"); yajl_gen_bool(g, 0);
    yajl_gen_map_close(g);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/process.json", c->state_dir);
    if (write_file(path, buf, len) != 0) die("write %s: %s", path, strerror(errno));
    yajl_gen_free(g);
}

/* ------------------------------------------------------------------------ */
/* Starting a container                                                      */
/* ------------------------------------------------------------------------ */

static void track(container *c, supervisor_resource_kind_t kind, const char *value)
{
    if (supervisor_track_resource(c->id, kind, value) != 0)
        die("supervisor_track_resource(%s, %d, %s): %s", c->id, (int)kind, value, strerror(errno));
}

/* fork, chdir state dir, setsid, exec isulad-shim <id> <bundle> runc. The
 * argv and environment are built before fork (the library runs threads). */
static pid_t spawn_shim(container *c)
{
    char log_env[PATH_MAX + 32], out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(log_env, sizeof log_env, "ISULAD_SHIIM_LOG_PATH=%s/shim-log.json", c->state_dir);
    snprintf(out_path, sizeof out_path, "%s/shim-stdout", c->state_dir);
    snprintf(err_path, sizeof err_path, "%s/shim-stderr", c->state_dir);
    extern char **environ;
    size_t n = 0;
    while (environ[n]) n++;
    char **envp = calloc(n + 3, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "ISULAD_SHIIM_", 13) != 0) envp[k++] = environ[i];
    envp[k++] = log_env;
    envp[k++] = "ISULAD_SHIIM_LOG_LEVEL=info";
    envp[k] = NULL;
    char *const argv[] = { (char *)g_shim, c->id, c->bundle, "runc", NULL };

    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        if (chdir(c->state_dir) != 0) _exit(120);
        if (setsid() < 0) _exit(121);
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0) _exit(122);
        dup2(in, 0); dup2(out, 1); dup2(err, 2);
        execve(g_shim, argv, envp);
        _exit(127);
    }
    free(envp);
    return pid;
}

/* The holder for busymount: a process whose cwd is inside the tracked tmpfs
 * (like a shell someone left in a container's volume): umount gets EBUSY. */
static pid_t spawn_holder(const char *dir)
{
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(120);
        execl("/bin/busybox", "sleep", "300", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void dump_shim_files(const container *c)
{
    const char *files[] = { "shim-stderr", "shim-log.json", "log.json" };
    for (size_t i = 0; i < 3; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", c->state_dir, files[i]);
        char *s = read_file(p, 4000);
        if (s && *s) fprintf(stderr, "--- %s:\n%s\n", p, s);
        free(s);
    }
}

static void start_container(container *c)
{
    /* State dir + bundle; tracked first, so released last. */
    mkdir_p(c->state_dir);
    track(c, SUPERVISOR_RES_PATH, c->state_dir);
    mkdir_p(c->bundle);
    mkdir_p(c->data);
    write_config(c);

    /* The container's cgroup (runc creates it, the library removes leftovers)
       and runc's state root (`runc --root ... delete --force`). */
    track(c, SUPERVISOR_RES_CGROUP, c->cgroup);
    track(c, SUPERVISOR_RES_RUNTIME, c->runc_root);

    /* A tmpfs per container, released first. */
    if (mount("tmpfs", c->data, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0)
        die("mount tmpfs on %s: %s", c->data, strerror(errno));
    track(c, SUPERVISOR_RES_MOUNT, c->data);

    /* Exit FIFO: created and opened for reading before the shim exists. */
    char *fifo = container_exit_fifo_create(c->state_dir);
    if (!fifo) die("container_exit_fifo_create(%s): %s", c->state_dir, strerror(errno));
    int fd = container_exit_fifo_open(fifo);
    if (fd < 0) die("container_exit_fifo_open(%s): %s", fifo, strerror(errno));
    write_process_json(c, fifo);
    free(fifo);

    c->shim_pid = spawn_shim(c);

    /* runc create is done when the pid file appears (bounded). */
    char pid_path[PATH_MAX];
    snprintf(pid_path, sizeof pid_path, "%s/pid", c->state_dir);
    long long deadline = now_ms() + 15000;
    int cpid = 0;
    for (;;) {
        char *s = read_file(pid_path, 64);
        if (s) { cpid = atoi(s); free(s); }
        if (cpid > 0) break;
        int st;
        if (waitpid(c->shim_pid, &st, WNOHANG) == c->shim_pid) {
            c->shim_status = st;
            dump_shim_files(c);
            die("%s: the shim exited (status %d) before creating the container", c->id,
                WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        }
        if (now_ms() > deadline) {
            dump_shim_files(c);
            die("%s: no pid file after 15 s", c->id);
        }
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }

    /* pid_ppid_info_t from /proc: the container init and its shim. */
    c->info.pid = cpid;
    c->info.ppid = c->shim_pid;
    if (!proc_stat(cpid, &c->info.start_time, NULL) || !proc_stat(c->shim_pid, &c->info.pstart_time, NULL))
        die("%s: cannot read /proc for pid %d / shim %d", c->id, cpid, (int)c->shim_pid);

    if (container_supervisor_add_exit_monitor(fd, &c->info, c->id, "runc") != 0)
        die("container_supervisor_add_exit_monitor(%s): %s", c->id, strerror(errno));

    char out[1024];
    int rc = runc(c, "start", NULL, out, sizeof out);
    if (rc != 0) die("%s: runc start -> %d: %s", c->id, rc, out);
    pthread_mutex_lock(&mu);
    c->active = true;
    char why[128];
    snprintf(why, sizeof why, "pid %d (start %llu), shim %d", cpid, c->info.start_time, (int)c->shim_pid);
    set_state(c, T_RUNNING, why);
    pthread_mutex_unlock(&mu);
}

/* ------------------------------------------------------------------------ */
/* Waiting                                                                   */
/* ------------------------------------------------------------------------ */

static void reap_shims(void)
{
    for (size_t i = 0; i < ncs; i++) {
        container *c = &cs[i];
        int st;
        if (c->shim_pid > 0 && c->shim_status == -1 && waitpid(c->shim_pid, &st, WNOHANG) == c->shim_pid)
            c->shim_status = st;
    }
}

/* Waits (bounded) until pred holds; refreshes the table meanwhile. */
static bool wait_for(bool (*pred)(void *), void *arg, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        refresh_states();
        reap_shims();
        pthread_mutex_lock(&mu);
        bool ok = pred(arg);
        if (!ok && now_ms() < deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 10 * 1000 * 1000; /* the library's STOPPING/GC states have no event */
            if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
            pthread_cond_timedwait(&cv, &mu, &ts);
        }
        pthread_mutex_unlock(&mu);
        if (ok) return true;
        if (now_ms() >= deadline) return false;
    }
}

static bool all_stopped_hooks(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < ncs; i++)
        if (!cs[i].stopped_hook) return false;
    return true;
}

static bool one_gc_done(void *arg) { return ((container *)arg)->gc_done; }
static bool not_running(void *arg) { return ((container *)arg)->state != T_RUNNING; }

static bool all_released(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < ncs; i++)
        if (cs[i].state != T_STOPPED) return false;
    return true;
}

/* GC attempts the library reports for id (status JSON), -1 when not in GC. */
static int gc_attempts(const char *id, char *last_error, size_t len)
{
    char *json = supervisor_status_json();
    if (!json) return -1;
    yajl_val tree = yajl_tree_parse(json, NULL, 0);
    free(json);
    int attempts = -1;
    const char *gc_path[] = { "gc", NULL };
    yajl_val gc = tree ? yajl_tree_get(tree, gc_path, yajl_t_array) : NULL;
    for (size_t i = 0; gc && i < gc->u.array.len; i++) {
        yajl_val e = gc->u.array.values[i];
        const char *idp[] = { "id", NULL }, *ap[] = { "attempts", NULL }, *lp[] = { "last_error", NULL };
        yajl_val v = yajl_tree_get(e, idp, yajl_t_string);
        const char *vid = v ? YAJL_GET_STRING(v) : NULL;
        if (!vid || strcmp(vid, id) != 0) continue;
        yajl_val a = yajl_tree_get(e, ap, yajl_t_number);
        attempts = a && YAJL_IS_INTEGER(a) ? (int)YAJL_GET_INTEGER(a) : 0;
        yajl_val l = yajl_tree_get(e, lp, yajl_t_string);
        if (last_error && len) snprintf(last_error, len, "%s", l ? YAJL_GET_STRING(l) : "");
    }
    if (tree) yajl_tree_free(tree);
    return attempts;
}

typedef struct { const char *id; int min; } attempts_arg;
static bool attempts_reached(void *arg)
{
    attempts_arg *a = arg;
    return gc_attempts(a->id, NULL, 0) >= a->min;
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                    */
/* ------------------------------------------------------------------------ */

static int g_failures;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  %s  ", ok ? (g_color ? "\033[32mok\033[0m  " : "ok  ") : (g_color ? "\033[31mFAIL\033[0m" : "FAIL"));
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    if (!ok) g_failures++;
}

static void check_leftovers(void)
{
    printf("\n  leftover check\n");
    for (size_t i = 0; i < ncs; i++) {
        container *c = &cs[i];
        struct stat st;
        check(lstat(c->state_dir, &st) != 0 && errno == ENOENT, "%-22s state dir %s removed", c->id, c->state_dir);
        check(!is_mounted(c->data), "%-22s tmpfs %s unmounted", c->id, c->data);
        int left = count_cgroup_dirs(c->cgroup, false);
        check(left == 0, "%-22s cgroup %s gone from every hierarchy (%d left)", c->id, c->cgroup, left);
        /* runc list creates a missing root: only list one that exists. */
        if (lstat(c->runc_root, &st) != 0 && errno == ENOENT) {
            check(true, "%-22s runc root %s gone (nothing to list)", c->id, c->runc_root);
        } else {
            char out[1024];
            const char *argv[] = { "runc", "--root", c->runc_root, "list", "-q", NULL };
            int rc = run(argv, 10000, out, sizeof out);
            check(rc == 0 && out[0] == 0, "%-22s runc list empty (rc %d%s%s)", c->id, rc, out[0] ? ": " : "", out);
        }
        check(!proc_alive(c->info.pid, c->info.start_time), "%-22s container process %d gone", c->id, c->info.pid);
        check(supervisor_container_state(c->id) == SUPERVISOR_STATE_NONE && !gc_is_gc_progress(c->id),
              "%-22s released by the library (state NONE, not in GC)", c->id);
    }
    char run_dir[PATH_MAX];
    snprintf(run_dir, sizeof run_dir, "%s/run", g_root);
    DIR *d = opendir(run_dir);
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
    if (d) closedir(d);
    check(entries == 0, "no state files under %s (%d entries)", run_dir, entries);
    char gpath[PATH_MAX];
    snprintf(gpath, sizeof gpath, "%s/garbage.json", g_lib_dir);
    char *g = read_file(gpath, 1 << 20);
    yajl_val tree = g ? yajl_tree_parse(g, NULL, 0) : NULL;
    const char *lp[] = { "GcContainers", NULL };
    yajl_val list = tree ? yajl_tree_get(tree, lp, yajl_t_array) : NULL;
    check(!g || (tree && (!list || list->u.array.len == 0)), "garbage.json holds no entries (%s)", g ? g : "absent");
    if (tree) yajl_tree_free(tree);
    free(g);
}

static void check_exit_codes(void)
{
    printf("\n  exit codes\n");
    for (size_t i = 0; i < ncs; i++) {
        container *c = &cs[i];
        check(c->exit_code == c->role->expect_code, "%-22s container_stopped exit code %d (expected %d)", c->id,
              c->exit_code, c->role->expect_code);
        if (c->role->expect_gc)
            check(c->went_gc && c->gc_done, "%-22s went through GC and gc_done fired", c->id);
        else
            check(!c->went_gc, "%-22s released without GC", c->id);
        if (c->role->mem_limit > 0)
            check(c->oom_kills >= 1 && c->oom_before_stop, "%-22s container_oom (%llu kill%s) before container_stopped",
                  c->id, c->oom_kills, c->oom_kills == 1 ? "" : "s");
        else
            check(c->oom_kills == 0, "%-22s no container_oom", c->id);
    }
}

/* ------------------------------------------------------------------------ */
/* Scenario                                                                  */
/* ------------------------------------------------------------------------ */

static void init_containers(const char *role_list)
{
    for (size_t r = 0; r < NROLES; r++) {
        if (role_list) {
            /* exact match within the comma-separated list */
            const char *p = role_list;
            bool hit = false;
            size_t n = strlen(roles[r].name);
            while (p && *p) {
                if (strncmp(p, roles[r].name, n) == 0 && (p[n] == ',' || p[n] == 0)) hit = true;
                p = strchr(p, ',');
                if (p) p++;
            }
            if (!hit) continue;
        }
        container *c = &cs[ncs++];
        memset(c, 0, sizeof *c);
        c->role = &roles[r];
        char id[96], dir[PATH_MAX / 2 - 32];
        snprintf(id, sizeof id, "%s-%s", g_prefix, roles[r].name);
        snprintf(dir, sizeof dir, "%s/run/%s", g_root, id);
        if (strlen(dir) + 16 >= sizeof dir) die("--root too long");
        snprintf(c->id, sizeof c->id, "%s", id);
        snprintf(c->state_dir, sizeof c->state_dir, "%s", dir);
        snprintf(c->bundle, sizeof c->bundle, "%s/bundle", dir);
        snprintf(c->data, sizeof c->data, "%s/data", dir);
        snprintf(c->runc_root, sizeof c->runc_root, "%s/runc", dir);
        snprintf(c->cgroup, sizeof c->cgroup, "supdemo-%s", id);
        c->shim_status = -1;
        c->exit_code = -1;
    }
    if (ncs == 0) die("no known role in --roles %s", role_list);
}

static container *by_role(const char *name)
{
    for (size_t i = 0; i < ncs; i++)
        if (strcmp(cs[i].role->name, name) == 0) return &cs[i];
    return NULL;
}

static char g_holder_file[1100];

static void phase_run(char **argv)
{
    mkdir_p(g_lib_dir);
    configure_library();
    if (new_supervisor() != 0) die("new_supervisor: %s", strerror(errno));
    if (new_gchandler() != 0) die("new_gchandler: %s", strerror(errno));
    if (start_gchandler() != 0) die("start_gchandler: %s", strerror(errno));
    say("engine %d up: libsupervisor %s, garbage.json in %s", (int)getpid(), supervisor_version(), g_lib_dir);

    container *busy = by_role("busymount");
    pid_t holder = 0;
    for (size_t i = 0; i < ncs; i++) {
        start_container(&cs[i]);
        if (&cs[i] == busy) {
            holder = spawn_holder(busy->data);
            char s[32];
            int n = snprintf(s, sizeof s, "%d\n", (int)holder);
            write_file(g_holder_file, s, (size_t)n);
            say("%-22s holder process %d keeps its cwd in %s", busy->id, (int)holder, busy->data);
        }
    }
    print_table("all containers running");

    container *term = by_role("sigterm"), *sk = by_role("shimkill");
    if (sk) {
        char out[512];
        int rc = runc(sk, "pause", NULL, out, sizeof out);
        say("%-22s runc pause -> %d %s", sk->id, rc, out);
        unsigned long long st = 0;
        /* Only the shim we started (same start time) is killed. */
        if (proc_stat(sk->shim_pid, &st, NULL) && st == sk->info.pstart_time) {
            kill(sk->shim_pid, SIGKILL);
            say("%-22s shim %d SIGKILLed (the exit FIFO sees EOF: 137)", sk->id, (int)sk->shim_pid);
        }
    }
    if (term) {
        char out[512];
        /* PID 1 ignores a signal it has no handler for: a TERM that lands
         * before the shell has installed its trap is lost, so resend it. */
        bool gone = false;
        for (int i = 0; i < 10 && !gone; i++) {
            int rc = runc(term, "kill", "TERM", out, sizeof out);
            if (i == 0) say("%-22s runc kill TERM -> %d %s", term->id, rc, out);
            gone = wait_for(not_running, term, 1000);
        }
        if (!gone) {
            say("%-22s still running 10 s after SIGTERM: SIGKILL", term->id);
            runc(term, "kill", "KILL", out, sizeof out);
        }
    }

    if (!wait_for(all_stopped_hooks, NULL, 30000)) say("timeout: not every container reported its exit");
    if (sk && !wait_for(one_gc_done, sk, 15000)) say("timeout: %s did not leave GC", sk->id);
    if (busy) {
        attempts_arg a = { busy->id, 3 };
        if (!wait_for(attempts_reached, &a, 15000)) say("timeout: %s not retried by GC", busy->id);
        char err[512] = "";
        int n = gc_attempts(busy->id, err, sizeof err);
        say("%-22s GC attempts so far: %d, last error: %s", busy->id, n, err);
    }
    print_table("before the engine restart");

    /* Restart: stop the library cleanly, then a fresh engine image. */
    if (supervisor_shutdown() != 0) die("supervisor_shutdown: %s", strerror(errno));
    say("supervisor_shutdown done; exec a fresh engine (garbage.json keeps what is left)");
    /* exit codes seen so far travel in the environment */
    for (size_t i = 0; i < ncs; i++) {
        char k[128], v[256];
        snprintf(k, sizeof k, "MINI_ENGINE_SEEN_%s", cs[i].role->name);
        snprintf(v, sizeof v, "%d,%d,%d,%d,%llu,%llu,%d,%s", cs[i].exit_code, cs[i].went_gc, cs[i].gc_done,
                 cs[i].info.pid, cs[i].info.start_time, cs[i].oom_kills, cs[i].oom_before_stop, cs[i].path);
        setenv(k, v, 1);
    }
    char **nargv = calloc(64, sizeof *nargv);
    size_t k = 0;
    nargv[k++] = "mini-engine";
    nargv[k++] = "--resume";
    for (size_t i = 1; argv[i] && k < 62; i++) nargv[k++] = argv[i];
    fflush(stdout);
    fflush(stderr);
    execv("/proc/self/exe", nargv);
    die("exec /proc/self/exe: %s", strerror(errno));
}

static void phase_resume(void)
{
    /* What the previous image saw. */
    for (size_t i = 0; i < ncs; i++) {
        container *c = &cs[i];
        char k[128];
        snprintf(k, sizeof k, "MINI_ENGINE_SEEN_%s", c->role->name);
        const char *v = getenv(k);
        int went_gc = 0, gc_done = 0, oom_first = 0;
        if (v && sscanf(v, "%d,%d,%d,%d,%llu,%llu,%d", &c->exit_code, &went_gc, &gc_done, &c->info.pid,
                        &c->info.start_time, &c->oom_kills, &oom_first) == 7) {
            c->went_gc = went_gc;
            c->gc_done = gc_done;
            c->oom_before_stop = oom_first;
            const char *p = v;
            for (int commas = 0; *p && commas < 7; p++) if (*p == ',') commas++;
            snprintf(c->path, sizeof c->path, "%s", p);
            c->state = gc_done || !went_gc ? T_STOPPED : T_GC;
        }
        c->active = true;
    }
    configure_library();
    say("engine %d restarted (fresh image)", (int)getpid());
    if (new_supervisor() != 0) die("new_supervisor: %s", strerror(errno));
    if (new_gchandler() != 0) die("new_gchandler: %s", strerror(errno));
    for (size_t i = 0; i < ncs; i++)
        if (gc_is_gc_progress(cs[i].id)) say("%-22s restored from garbage.json", cs[i].id);
    if (start_gchandler() != 0) die("start_gchandler: %s", strerror(errno));

    container *busy = by_role("busymount");
    char *s = read_file(g_holder_file, 64);
    pid_t holder = s ? atoi(s) : 0;
    free(s);
    if (busy && holder > 0) {
        /* attempts restored from garbage.json; wait for one more, made here */
        attempts_arg a = { busy->id, gc_attempts(busy->id, NULL, 0) + 1 };
        wait_for(attempts_reached, &a, 10000);
        char err[512] = "";
        int n = gc_attempts(busy->id, err, sizeof err);
        say("%-22s GC retrying in the new engine: attempts %d, last error: %s", busy->id, n, err);
        kill(holder, SIGKILL);
        int st;
        waitpid(holder, &st, 0); /* our child across exec */
        unlink(g_holder_file);
        say("%-22s holder %d killed: the mount is free", busy->id, (int)holder);
    }
    if (!wait_for(all_released, NULL, 20000)) say("timeout: some containers are still in GC");
    print_table("after the restart");
    if (supervisor_shutdown() != 0) say("supervisor_shutdown: %s", strerror(errno));
    check_exit_codes();
    check_leftovers();
    if (g_failures == 0) {
        rm_rf(g_lib_dir);
        rmdir(g_root);
        char run_dir[PATH_MAX];
        snprintf(run_dir, sizeof run_dir, "%s/run", g_root);
        rmdir(run_dir);
        rmdir(g_root);
    }
    printf("\n  %s (%.1f s)\n", g_failures ? "FAILED" : "PASSED: every exit code right, nothing left behind",
           elapsed());
    exit(g_failures ? 1 : 0);
}

/* Emergency cleanup after a failed run: kill what is left, unmount, remove. */
static void sweep(void)
{
    char *s = read_file(g_holder_file, 64);
    if (s) {
        pid_t holder = atoi(s);
        char cwd[PATH_MAX], link[64];
        snprintf(link, sizeof link, "/proc/%d/cwd", (int)holder);
        ssize_t n = readlink(link, cwd, sizeof cwd - 1);
        if (holder > 0 && n > 0) {
            cwd[n] = 0;
            if (strncmp(cwd, g_root, strlen(g_root)) == 0) kill(holder, SIGKILL);
        }
        free(s);
    }
    for (size_t i = 0; i < ncs; i++) {
        container *c = &cs[i];
        const char *del[] = { "runc", "--root", c->runc_root, "delete", "--force", c->id, NULL };
        run(del, 10000, NULL, 0);
        for (int k = 0; k < 3 && is_mounted(c->data); k++) umount2(c->data, k < 2 ? 0 : MNT_DETACH);
        count_cgroup_dirs(c->cgroup, true);
        rm_rf(c->state_dir);
    }
    rm_rf(g_root);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mini-engine: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

int main(int argc, char **argv)
{
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *role_list = NULL;
    bool resume = false, do_sweep = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--resume")) resume = true;
        else if (!strcmp(a, "--sweep")) do_sweep = true;
        else if (!strcmp(a, "--root") && v) g_root = argv[++i];
        else if (!strcmp(a, "--bundle") && v) g_bundle = argv[++i];
        else if (!strcmp(a, "--shim") && v) g_shim = argv[++i];
        else if (!strcmp(a, "--prefix") && v) g_prefix = argv[++i];
        else if (!strcmp(a, "--roles") && v) role_list = argv[++i];
        else die("usage: mini-engine --root DIR --bundle DIR --shim PATH [--prefix P] [--roles r,..] | --sweep");
    }
    if (!g_root || g_root[0] != '/' || strlen(g_root) > 1000) die("--root must be an absolute path (< 1000 bytes)");
    if (resume) {
        const char *t = getenv("MINI_ENGINE_T0_NS");
        if (t) { /* keep the clock of the first image */
            long long ns = atoll(t);
            t0.tv_sec = ns / 1000000000LL;
            t0.tv_nsec = ns % 1000000000LL;
        }
    } else {
        char t[32];
        snprintf(t, sizeof t, "%lld", (long long)t0.tv_sec * 1000000000LL + t0.tv_nsec);
        setenv("MINI_ENGINE_T0_NS", t, 1);
    }
    snprintf(g_lib_dir, sizeof g_lib_dir, "%s/lib", g_root);
    snprintf(g_holder_file, sizeof g_holder_file, "%s/holder.pid", g_root);
    g_color = isatty(1) && !getenv("NO_COLOR");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&cv, &ca);
    setvbuf(stdout, NULL, _IOLBF, 0);
    init_containers(role_list);
    if (do_sweep) { sweep(); return 0; }
    if (resume) phase_resume();
    if (!g_bundle || g_bundle[0] != '/' || !g_shim || g_shim[0] != '/')
        die("--bundle and --shim must be absolute paths");
    if (geteuid() != 0) die("run as root (runc, mounts and cgroups)");
    struct stat st;
    char run_dir[PATH_MAX];
    snprintf(run_dir, sizeof run_dir, "%s/run", g_root);
    if (lstat(run_dir, &st) == 0) die("%s exists: a previous run left it (mini-engine --sweep --root %s)", run_dir, g_root);
    mkdir_p(run_dir);
    phase_run(argv);
    return 0;
}
