/*
 * The shim suites' fixture: a busybox bundle per case, the shim started as
 * iSulad starts it, FIFO and status helpers, and a cleanup that kills the
 * shim and force-deletes the container on every exit path (CHECK). Static
 * functions, included by one suite source each (shim_io_test.c,
 * shim_attach_test.c).
 */
#ifndef SHIM_FIXTURE_H
#define SHIM_FIXTURE_H
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#ifndef SHIM_PATH
#error "SHIM_PATH must name the isulad-shim executable"
#endif

/* Not every suite uses every helper. */
#pragma GCC diagnostic ignored "-Wunused-function"

#define WAIT_MS 30000

/* The case's container: cleaned on every exit path. */
static char *g_dir;          /* temp root */
static char *g_bundle;       /* <dir>/bundle */
static char *g_wd;           /* <dir>/state: the shim's working directory */
static char g_id[64];
static pid_t g_shims[4];
/* SUPERVISOR_FAILPOINTS for the shims this case starts (NULL: none). */
static const char *g_failpoints;
static int g_nshims;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int s = system(cmd);
    return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

/* Kills any shim still running and force-deletes the container. */
static void cleanup_container(void)
{
    for (int i = 0; i < g_nshims; i++) {
        if (g_shims[i] > 0) {
            kill(g_shims[i], SIGKILL);
            waitpid(g_shims[i], NULL, 0);
            g_shims[i] = 0;
        }
    }
    g_nshims = 0;
    if (g_wd != NULL && g_id[0] != '\0')
        sh("runc --root %s/runc delete --force %s >/dev/null 2>&1", g_wd, g_id);
}

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            dump_state();                                                    \
            cleanup_container();                                             \
            tu_fail(__FILE__, __LINE__, "check failed: %s", #cond);          \
        }                                                                    \
    } while (0)

/* The message is formatted before the cleanup, which kills the shim. */
#define CHECK_MSG(cond, ...)                                                 \
    do {                                                                     \
        if (!(cond)) {                                                       \
            char chk_msg_[20480];                                            \
            snprintf(chk_msg_, sizeof chk_msg_, __VA_ARGS__);                \
            dump_state();                                                    \
            cleanup_container();                                             \
            tu_fail(__FILE__, __LINE__, "%s", chk_msg_);                     \
        }                                                                    \
    } while (0)

static char *wd_path(const char *name) { return tu_path_join(g_wd, name); }

/* The shim's stderr and runc's log, for the post-mortem of a failed check. */
static void dump_state(void)
{
    if (g_wd == NULL) return;
    const char *names[] = { "shim.err", "log.json" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = wd_path(names[i]);
        char *text = tu_read_file(p, NULL);
        if (text != NULL && text[0] != '\0') tu_log("%s:\n%s", names[i], text);
        free(text);
        free(p);
    }
}

/* ------------------------------------------------------------------------ */
/* Bundle                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct bundle_opts {
    bool terminal;
    const char *args_json;   /* JSON array of strings */
    const char *root_path;   /* NULL: "rootfs" */
} bundle_opts;

/* Temp dir, state dir, busybox rootfs and config.json. */
static void make_container(const char *tag, const bundle_opts *o)
{
    g_dir = tu_mkdtemp(tag);
    g_bundle = tu_path_join(g_dir, "bundle");
    g_wd = tu_path_join(g_dir, "state");
    /* Unique: runc names cgroups after the id, and other suites run too. */
    snprintf(g_id, sizeof g_id, "shimio-%s-%d", tag, (int)getpid());
    tu_mkdir(g_bundle);
    tu_mkdir(g_wd);
    CHECK(sh("mkdir -p %s/rootfs/bin %s/rootfs/proc %s/rootfs/dev %s/rootfs/sys %s/rootfs/tmp"
             " && cp /bin/busybox %s/rootfs/bin/busybox"
             " && for c in sh echo cat sleep stty tty wc head; do ln -s busybox %s/rootfs/bin/$c; done",
             g_bundle, g_bundle, g_bundle, g_bundle, g_bundle, g_bundle, g_bundle) == 0);
    char *cfg = tu_path_join(g_bundle, "config.json");
    FILE *f = fopen(cfg, "w");
    CHECK(f != NULL);
    fprintf(f,
        "{\"ociVersion\":\"1.0.2-dev\","
        "\"process\":{\"terminal\":%s,\"user\":{\"uid\":0,\"gid\":0},\"args\":%s,"
        "\"env\":[\"PATH=/bin\",\"TERM=xterm\"],\"cwd\":\"/\","
        "\"capabilities\":{\"bounding\":[\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"],"
        "\"permitted\":[\"CAP_KILL\"]},"
        "\"noNewPrivileges\":true},"
        "\"root\":{\"path\":\"%s\",\"readonly\":true},"
        "\"hostname\":\"shimio\","
        "\"mounts\":["
        "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
        "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
        "\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
        "{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
        "\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\"]},"
        "{\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
        "\"options\":[\"nosuid\",\"nodev\",\"size=1024k\"]}],"
        "\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},"
        "\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},"
        "{\"type\":\"uts\"},{\"type\":\"mount\"}]}}\n",
        o->terminal ? "true" : "false", o->args_json, o->root_path ? o->root_path : "rootfs");
    CHECK(fclose(f) == 0);
    free(cfg);
}

/* ------------------------------------------------------------------------ */
/* State dir, FIFOs, the shim                                                */
/* ------------------------------------------------------------------------ */

static void write_text(const char *dir, const char *name, const char *text)
{
    char *p = tu_path_join(dir, name);
    tu_write_file(p, text, strlen(text));
    free(p);
}

/* mkfifo <dir>/<name>; the path is returned (malloc()ed). */
static char *make_fifo(const char *dir, const char *name)
{
    char *p = tu_path_join(dir, name);
    CHECK_MSG(mkfifo(p, 0600) == 0, "mkfifo %s: %s", p, strerror(errno));
    return p;
}

static int open_reader(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK_MSG(fd >= 0, "open %s: %s", path, strerror(errno));
    return fd;
}

/* Starts the shim as iSulad does, in `dir`, stdout/stderr into dir/shim.out
 * and dir/shim.err. oom_adj (may be NULL) is written to the child's own
 * /proc/self/oom_score_adj before exec. timeout: the exec-timeout argument or
 * NULL. */
static pid_t start_shim_in(const char *dir, const char *oom_adj, const char *timeout)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(99);
        int e = open("shim.err", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int o = open("shim.out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (e < 0 || o < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(97);
        int n = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (n < 0 || dup2(n, 0) < 0) _exit(97);
        if (oom_adj != NULL) {
            int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, oom_adj, strlen(oom_adj)) != (ssize_t)strlen(oom_adj)) _exit(96);
            close(fd);
        }
        if (g_failpoints != NULL) setenv("SUPERVISOR_FAILPOINTS", g_failpoints, 1);
        if (timeout != NULL)
            execl(SHIM_PATH, "isulad-shim", g_id, g_bundle, "runc", "info", timeout, (char *)NULL);
        else
            execl(SHIM_PATH, "isulad-shim", g_id, g_bundle, "runc", "info", (char *)NULL);
        _exit(98);
    }
    if (g_nshims < (int)(sizeof g_shims / sizeof g_shims[0])) g_shims[g_nshims++] = pid;
    return pid;
}

static pid_t start_shim(const char *oom_adj) { return start_shim_in(g_wd, oom_adj, NULL); }

/* Waits (bounded) for the shim and returns its exit code, 128+sig when
 * killed, -1 on timeout (the shim is then killed). */
static int wait_shim(pid_t pid, int ms)
{
    int st = 0;
    if (!tu_reap(pid, ms, &st)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        st = -1;
    }
    for (int i = 0; i < g_nshims; i++)
        if (g_shims[i] == pid) g_shims[i] = 0;
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static bool file_nonempty(void *arg)
{
    struct stat st;
    return stat((const char *)arg, &st) == 0 && st.st_size > 0;
}

/* The pid file appears when `runc create` is done; then `runc start`. The pid
 * file has no notification: bounded polling. */
static void wait_created(void)
{
    char *pidf = wd_path("pid");
    CHECK_MSG(tu_poll_until(file_nonempty, pidf, WAIT_MS), "no pid file within %d ms", WAIT_MS);
    free(pidf);
}

static void runc_start(void)
{
    wait_created();
    CHECK(sh("runc --root %s/runc start %s", g_wd, g_id) == 0);
}

/* Number of containers runc knows under <wd>/runc (0 when the root is gone). */
static int runc_count(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "runc --root %s/runc list -q 2>/dev/null", g_wd);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    int n = 0;
    char line[256];
    while (fgets(line, sizeof line, p) != NULL)
        if (line[0] != '\n') n++;
    pclose(p);
    return n;
}

/* Reads the 4-byte status from the exit FIFO: bytes read (4; less at EOF),
 * -1 on timeout. */
static int read_status(int fd, int *code, int ms)
{
    int got = 0;
    char *p = (char *)code;
    long long end = tu_now_ms() + ms;
    while (got < 4) {
        int left = (int)(end - tu_now_ms());
        if (left <= 0) return -1;
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        int r = poll(&pf, 1, left);
        if (r <= 0) continue;
        ssize_t n = read(fd, p + got, 4 - (size_t)got);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return -1;
        }
        got += (int)n;
    }
    return got;
}

/* Accumulates what arrives on fd into buf (NUL-terminated) until needle is
 * in it, EOF after a writer, or the deadline. true when needle was seen. */
typedef struct reader {
    int fd;
    char buf[16384];
    size_t len;
} reader;

static bool read_until(reader *r, const char *needle, int ms)
{
    long long end = tu_now_ms() + ms;
    while (strstr(r->buf, needle) == NULL) {
        int left = (int)(end - tu_now_ms());
        if (left <= 0) return false;
        struct pollfd pf = { .fd = r->fd, .events = POLLIN };
        int pr = poll(&pf, 1, left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return false;
        if (r->len + 1 >= sizeof r->buf) return false;
        ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - 1 - r->len);
        if (n == 0) return strstr(r->buf, needle) != NULL;   /* writer gone */
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return false;
        }
        r->len += (size_t)n;
        r->buf[r->len] = '\0';
    }
    return true;
}

/* true when the json-file log at path has a line {"log":…needle…,"stream":stream,…}. */
static bool log_has(const char *path, const char *stream, const char *needle)
{
    char *text = tu_read_file(path, NULL);
    if (text == NULL) return false;
    bool found = false;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL && !found;
         line = strtok_r(NULL, "\n", &save)) {
        yajl_val doc = tu_json_parse(line);
        if (doc == NULL) continue;
        const char *log = tu_json_str(doc, "log");
        const char *st = tu_json_str(doc, "stream");
        const char *time = tu_json_str(doc, "time");
        found = log != NULL && st != NULL && time != NULL && strcmp(st, stream) == 0 &&
                strstr(log, needle) != NULL;
        yajl_tree_free(doc);
    }
    free(text);
    return found;
}

static void expect_no_container(void)
{
    CHECK_MSG(runc_count() == 0, "runc still lists a container under %s/runc", g_wd);
}

static void finish_case(void)
{
    cleanup_container();
}

#endif
