/* Real runc containers through isulad-shim for the OOM suite (container.h). */
#include "container.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SHIM_PATH
#error "SHIM_PATH must name the isulad-shim executable"
#endif

#define MEMCG_ROOT "/sys/fs/cgroup/memory"
#define MAX_CT 64

static ct *g_ct[MAX_CT];
static int g_nct;
static char *g_base;     /* the case's temp dir */
static char *g_rootfs;   /* shared busybox rootfs */

int sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int s = system(cmd);
    return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

/* Kills and deletes every container; removes its cgroup in every hierarchy. */
static void cleanup_all(void)
{
    for (int i = 0; i < g_nct; i++) {
        ct *c = g_ct[i];
        if (c->shim > 0) {
            kill(c->shim, SIGKILL);
            waitpid(c->shim, NULL, 0);
            c->shim = 0;
        }
        sh("runc --root %s delete --force %s >/dev/null 2>&1", c->runc_root, c->id);
        sh("for d in /sys/fs/cgroup/*/%s; do [ -d \"$d\" ] && rmdir \"$d\"; done 2>/dev/null", c->cgroup);
    }
}

static void dump_ct(void)
{
    for (int i = 0; i < g_nct; i++) {
        const char *names[] = { "shim.err", "log.json" };
        for (size_t k = 0; k < 2; k++) {
            char *p = tu_path_join(g_ct[i]->state, names[k]);
            char *t = tu_read_file(p, NULL);
            if (t && t[0]) tu_log("%s %s:\n%s", g_ct[i]->id, names[k], t);
            free(t);
            free(p);
        }
    }
}

void ct_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dump_ct();
    cleanup_all();
    tu_fail(file, line, "%s", msg);
}

void ct_require(void)
{
    const char *why = NULL;
    struct stat st;
    if (geteuid() != 0) why = "needs root";
    else if (sh("command -v runc >/dev/null") != 0) why = "runc not found";
    else if (access(SHIM_PATH, X_OK) != 0) why = "isulad-shim not built (" SHIM_PATH ")";
    else if (stat(MEMCG_ROOT "/memory.oom_control", &st) != 0) why = "no cgroup v1 memory hierarchy at " MEMCG_ROOT;
    else if (stat("/bin/busybox", &st) != 0) why = "no /bin/busybox (busybox-static)";
    if (why == NULL) return;
    printf("SKIP: %s\n", why);
    fprintf(stderr, "[%s] SKIP: %s\n", tu_case_name(), why);
    tu_cleanup();
    _exit(77);
}

static void make_rootfs(void)
{
    if (g_rootfs != NULL) return;
    g_base = tu_mkdtemp("oom");
    g_rootfs = tu_path_join(g_base, "rootfs");
    CHECK(sh("mkdir -p %s/bin %s/proc %s/dev %s/sys %s/tmp && cp /bin/busybox %s/bin/busybox"
             " && for c in sh tail sleep cat; do ln -s busybox %s/bin/$c; done",
             g_rootfs, g_rootfs, g_rootfs, g_rootfs, g_rootfs, g_rootfs, g_rootfs) == 0);
}

static void write_config(const ct *c, const char *args_json, long long mem_limit)
{
    char mem[96] = "";
    if (mem_limit > 0) snprintf(mem, sizeof mem, "\"memory\":{\"limit\":%lld},", mem_limit);
    char *cfg = tu_path_join(c->bundle, "config.json");
    FILE *f = fopen(cfg, "w");
    CHECK_MSG(f != NULL, "fopen %s: %s", cfg, strerror(errno));
    fprintf(f,
        "{\"ociVersion\":\"1.0.2-dev\","
        "\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":%s,"
        "\"env\":[\"PATH=/bin\"],\"cwd\":\"/\",\"noNewPrivileges\":true},"
        "\"root\":{\"path\":\"%s\",\"readonly\":true},"
        "\"hostname\":\"oom\","
        "\"mounts\":["
        "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
        "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
        "\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]}],"
        "\"linux\":{\"cgroupsPath\":\"/%s\","
        "\"resources\":{%s\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},"
        "\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}]}}\n",
        args_json, g_rootfs, c->cgroup, mem);
    CHECK(fclose(f) == 0);
    free(cfg);
}

const char *ct_shim_failpoints;

static pid_t start_shim(const ct *c)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (chdir(c->state) != 0) _exit(99);
        int e = open("shim.err", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int o = open("shim.out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int n = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (e < 0 || o < 0 || n < 0 || dup2(n, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(97);
        if (ct_shim_failpoints && setenv("SUPERVISOR_FAILPOINTS", ct_shim_failpoints, 1) != 0) _exit(96);
        execl(SHIM_PATH, "isulad-shim", c->id, c->bundle, "runc", "info", (char *)NULL);
        _exit(98);
    }
    return pid;
}

typedef struct { ct *c; int pid; int shim_status; } created_arg;

/* The pid file appears when `runc create` is done (no notification: bounded
 * polling); a shim that exits first is a failed create. */
static bool created(void *p)
{
    created_arg *a = p;
    char *pf = tu_path_join(a->c->state, "pid");
    char *t = tu_read_file(pf, NULL);
    free(pf);
    if (t != NULL) {
        a->pid = atoi(t);
        free(t);
        if (a->pid > 0) return true;
    }
    int st;
    if (waitpid(a->c->shim, &st, WNOHANG) == a->c->shim) {
        a->shim_status = st;
        a->c->shim = 0;
        return true;
    }
    return false;
}

ct *ct_create(const char *args_json, long long mem_limit)
{
    static int seq;
    make_rootfs();
    CHECK(g_nct < MAX_CT);
    ct *c = calloc(1, sizeof *c);
    CHECK(c != NULL);
    int n = seq++;
    snprintf(c->id, sizeof c->id, "oom-%d-%d", (int)getpid(), n);
    snprintf(c->cgroup, sizeof c->cgroup, "sup-oom-%d-%d", (int)getpid(), n);
    char name[32];
    snprintf(name, sizeof name, "c%d", n);
    c->dir = tu_path_join(g_base, name);
    c->bundle = tu_path_join(c->dir, "bundle");
    c->state = tu_path_join(c->dir, "state");
    c->runc_root = tu_path_join(c->state, "runc");
    tu_mkdir(c->dir);
    tu_mkdir(c->bundle);
    tu_mkdir(c->state);
    g_ct[g_nct++] = c;
    write_config(c, args_json, mem_limit);

    errno = 0;
    c->fifo = container_exit_fifo_create(c->state);
    CHECK_MSG(c->fifo != NULL, "container_exit_fifo_create: %s", strerror(errno));
    c->efd = container_exit_fifo_open(c->fifo);
    CHECK_MSG(c->efd >= 0, "container_exit_fifo_open: %s", strerror(errno));
    char pj[1024];
    snprintf(pj, sizeof pj, "{\"exit_fifo\":\"%s\",\"runtime\":\"runc\"}", c->fifo);
    char *pjp = tu_path_join(c->state, "process.json");
    tu_write_file(pjp, pj, strlen(pj));
    free(pjp);

    c->shim = start_shim(c);
    created_arg a = { c, 0, -1 };
    CHECK_MSG(tu_poll_until(created, &a, CT_WAIT_MS), "%s: no pid file within %d ms", c->id, CT_WAIT_MS);
    CHECK_MSG(a.pid > 0, "%s: the shim exited (wait status 0x%x) before runc create finished", c->id,
              a.shim_status);
    c->info.pid = a.pid;
    c->info.ppid = c->shim;
    CHECK(tu_proc_start_time(c->info.pid, &c->info.start_time));
    CHECK(tu_proc_start_time(c->info.ppid, &c->info.pstart_time));
    return c;
}

void ct_track(ct *c)
{
    errno = 0;
    CHECK_MSG(supervisor_track_resource(c->id, SUPERVISOR_RES_RUNTIME, c->runc_root) == 0,
              "track RUNTIME %s: %s", c->runc_root, strerror(errno));
    CHECK_MSG(supervisor_track_resource(c->id, SUPERVISOR_RES_CGROUP, c->cgroup) == 0,
              "track CGROUP %s: %s", c->cgroup, strerror(errno));
}

void ct_arm(ct *c)
{
    errno = 0;
    CHECK_MSG(container_supervisor_add_exit_monitor(c->efd, &c->info, c->id, "runc") == 0,
              "container_supervisor_add_exit_monitor(%s): %s", c->id, strerror(errno));
    c->efd = -1;
}

void ct_start(ct *c)
{
    CHECK_MSG(sh("runc --root %s start %s", c->runc_root, c->id) == 0, "runc start %s failed", c->id);
}

void ct_kill(ct *c, const char *sig)
{
    CHECK_MSG(sh("runc --root %s kill %s %s", c->runc_root, c->id, sig) == 0, "runc kill %s %s failed", c->id, sig);
}

void ct_finish(ct *c)
{
    if (c->shim > 0) {
        int st;
        CHECK_MSG(tu_reap(c->shim, CT_WAIT_MS, &st), "%s: shim %d did not exit", c->id, (int)c->shim);
        c->shim = 0;
    }
    if (c->efd >= 0) close(c->efd);
    c->efd = -1;
    sh("runc --root %s delete --force %s >/dev/null 2>&1", c->runc_root, c->id);
    sh("for d in /sys/fs/cgroup/*/%s; do [ -d \"$d\" ] && rmdir \"$d\"; done 2>/dev/null", c->cgroup);
}

char *ct_memcg_file(const ct *c, const char *file)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s/%s", MEMCG_ROOT, c->cgroup, file);
    return strdup(p);
}

long long memcg_oom_kill(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s/memory.oom_control", MEMCG_ROOT, rel);
    char *t = tu_read_file(p, NULL);
    if (t == NULL) return -1;
    const char *k = strstr(t, "oom_kill ");
    long long v = k ? atoll(k + 9) : -1;
    free(t);
    return v;
}

long long ct_oom_kill_count(const ct *c) { return memcg_oom_kill(c->cgroup); }

bool ct_memcg_exists(const ct *c)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", MEMCG_ROOT, c->cgroup);
    struct stat st;
    return stat(p, &st) == 0;
}
