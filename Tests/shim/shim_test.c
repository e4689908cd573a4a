/* isulad-shim against real runc. Each case: a temp state dir + busybox bundle,
 * the shim started as iSulad does, waits bounded by deadlines (poll). */
#include "testutil.h"
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
#include <time.h>
#include <unistd.h>

static char dir[256], bundle[300], state[300];
/* Unique per process: runc derives the cgroup path from the id, so cases run
 * in parallel (ctest -j) must not share one. */
static char id[64] = "shimtest";

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); cleanup(); exit(1); } } while (0)

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[4096]; va_list ap; va_start(ap, fmt); vsnprintf(cmd, sizeof cmd, fmt, ap); va_end(ap);
    int s = system(cmd); return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}
static void cleanup(void) {
    if (state[0]) { sh("runc --root %s/runc delete --force %s >/dev/null 2>&1", state, id); }
    if (dir[0]) sh("rm -rf %s", dir);
}
static long long now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000LL + t.tv_nsec / 1000000; }

/* A busybox bundle running `sh -c script`; pidns 0 drops the PID namespace. */
static void make_bundle(const char *script, int pidns) {
    snprintf(dir, sizeof dir, "/tmp/shimtest.XXXXXX"); CHECK(mkdtemp(dir));
    snprintf(bundle, sizeof bundle, "%s/bundle", dir); snprintf(state, sizeof state, "%s/state", dir);
    CHECK(sh("mkdir -p %s/rootfs/bin %s && cp /bin/busybox %s/rootfs/bin/ && for c in sh echo sleep seq; do ln -s busybox %s/rootfs/bin/$c; done",
             bundle, state, bundle, bundle) == 0);
    CHECK(sh("cd %s && runc spec", bundle) == 0);
    char path[400]; snprintf(path, sizeof path, "%s/config.json", bundle);
    FILE *f = fopen(path, "r"); CHECK(f); static char buf[65536]; size_t n = fread(buf, 1, sizeof buf - 1, f); fclose(f); buf[n] = 0;
    /* Rewrite the pieces we need without a JSON tool. */
    char *args = strstr(buf, "\"args\": ["); CHECK(args); char *end = strchr(args, ']'); CHECK(end);
    static char out[70000]; size_t pre = args - buf;
    memcpy(out, buf, pre); out[pre] = 0;
    strcat(out, "\"args\": [\"/bin/sh\", \"-c\", \""); strcat(out, script); strcat(out, "\""); strcat(out, end);
    char *t = strstr(out, "\"terminal\": true"); if (t) memcpy(t, "\"terminal\":false", 16);
    if (!pidns) { char *p = strstr(out, "{\n\t\t\t\t\"type\": \"pid\"\n\t\t\t},"); if (p) memmove(p, p + 28, strlen(p + 28) + 1); }
    f = fopen(path, "w"); CHECK(f); fputs(out, f); fclose(f);
}
static void write_file(const char *name, const char *text) {
    char p[400]; snprintf(p, sizeof p, "%s/%s", state, name); FILE *f = fopen(p, "w"); CHECK(f); fputs(text, f); fclose(f);
}
/* Starts the shim in the state dir; stderr kept in state/shim.err. */
static pid_t start_shim(const char *timeout) {
    pid_t pid = fork(); CHECK(pid >= 0);
    if (pid == 0) {
        if (chdir(state) != 0) _exit(99);
        int e = open("shim.err", O_WRONLY | O_CREAT | O_TRUNC, 0600); dup2(e, 2);
        int o = open("shim.out", O_WRONLY | O_CREAT | O_TRUNC, 0600); dup2(o, 1);
        execl(SHIM_PATH, "isulad-shim", id, bundle, "runc", "info", timeout, (char *)NULL); _exit(98);
    }
    return pid;
}
/* The shim's exit code (128+signal when killed), -1 when it outlives the
 * deadline (then it is killed): waits on a pidfd, no polling. */
static int wait_exit(pid_t pid, int ms) {
    int st;
    if (!tu_reap(pid, ms, &st)) { kill(pid, SIGKILL); waitpid(pid, &st, 0); return -1; }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
static int wait_file(const char *name, int ms) {
    char p[400]; snprintf(p, sizeof p, "%s/%s", state, name); long long dl = now_ms() + ms; struct stat st;
    while (now_ms() < dl) { if (stat(p, &st) == 0 && st.st_size > 0) return 0; struct timespec ts = {0, 5000000}; nanosleep(&ts, NULL); }
    return -1;
}
/* Reads the 4-byte status: returns bytes read (4, or <4 at EOF). */
static int read_status(int fd, int *code, int ms) {
    int got = 0; char *p = (char *)code; long long dl = now_ms() + ms;
    while (got < 4) { struct pollfd pf = {fd, POLLIN, 0}; int left = (int)(dl - now_ms()); if (left <= 0) return -1;
        if (poll(&pf, 1, left) <= 0)
            continue;
        ssize_t n = read(fd, p + got, 4 - got);
        if (n == 0)
            break;
        if (n < 0) { if (errno == EAGAIN || errno == EINTR) continue; return -1; }
        got += n;
    }
    return got;
}
static int open_exit_fifo(void) {
    char p[400]; snprintf(p, sizeof p, "%s/exit_fifo", state); CHECK(mkfifo(p, 0600) == 0);
    int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC); CHECK(fd >= 0); return fd;
}
static void runc_start(void) { CHECK(wait_file("pid", 30000) == 0); CHECK(sh("runc --root %s/runc start %s", state, id) == 0); }
static int runc_count(void) { char c[600]; snprintf(c, sizeof c, "runc --root %s/runc list -q 2>/dev/null | grep -c . >/dev/null", state); return sh("%s", c); }

static void exit_case(int code, const char *script, int pidns, int expect) {
    (void)code; make_bundle(script, pidns);
    int efd = open_exit_fifo(); char pj[600];
    snprintf(pj, sizeof pj, "{\"exit_fifo\":\"%s/exit_fifo\",\"runtime\":\"runc\"}", state); write_file("process.json", pj);
    pid_t shim = start_shim(NULL); runc_start();
    int status = -1; CHECK(read_status(efd, &status, 30000) == 4); CHECK(status == expect);
    CHECK(wait_exit(shim, 30000) == 0);
    CHECK(sh("grep -q '\"exit_code\":%d' %s/exit.json", expect, state) == 0);
    CHECK(runc_count() != 0 /* grep -c . prints 0 and fails when none */);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *c = argv[1];
    snprintf(id, sizeof id, "shimtest-%d", (int)getpid());
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(c, "exit0")) exit_case(0, "exit 0", 1, 0);
    else if (!strcmp(c, "exit7")) exit_case(7, "exit 7", 1, 7);
    else if (!strcmp(c, "sigterm")) exit_case(0, "kill -TERM $$; sleep 10", 0, 143);
    else if (!strcmp(c, "logs") || !strcmp(c, "rotation")) {
        int rot = !strcmp(c, "rotation");
        make_bundle(rot ? "seq 1 200" : "echo line-one; echo line-two; echo oops >&2", 1);
        char p[400]; snprintf(p, sizeof p, "%s/out_fifo", state); CHECK(mkfifo(p, 0600) == 0);
        int ofd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC); CHECK(ofd >= 0);
        char pj[900]; snprintf(pj, sizeof pj, "{\"isuladStdout\":\"%s/out_fifo\",\"logPath\":\"%s/console.log\",\"logMaxfile\":3,\"logMaxsize\":%d,\"runtime\":\"runc\"}",
                              state, state, rot ? 1000 : 1000000);
        write_file("process.json", pj);
        pid_t shim = start_shim(NULL); runc_start(); CHECK(wait_exit(shim, 30000) == 0);
        if (rot) {
            CHECK(sh("test -s %s/console.log && test -s %s/console.log.1 && test -s %s/console.log.2 && ! test -e %s/console.log.3", state, state, state, state) == 0);
            CHECK(sh("for f in %s/console.log*; do test $(stat -c %%s $f) -le 1000 || exit 1; done", state) == 0);
            CHECK(sh("grep -q '\"log\":\"200\\\\n\",\"stream\":\"stdout\"' %s/console.log", state) == 0);
        } else {
            CHECK(sh("grep -qE '^\\{\"log\":\"line-one\\\\n\",\"stream\":\"stdout\",\"time\":\"[0-9-]+T[0-9:]+\\.[0-9]{9}Z\"\\}$' %s/console.log", state) == 0);
            CHECK(sh("grep -q '\"log\":\"oops\\\\n\",\"stream\":\"stderr\"' %s/console.log", state) == 0);
            char buf[256] = {0}; ssize_t n = read(ofd, buf, sizeof buf - 1); CHECK(n > 0); CHECK(strstr(buf, "line-one\nline-two\n"));
        }
    } else if (!strcmp(c, "exec_timeout")) {
        make_bundle("sleep 100", 1);
        write_file("process.json", "{\"runtime\":\"runc\"}");
        pid_t shim = start_shim(NULL); runc_start();
        char ex[400]; snprintf(ex, sizeof ex, "%s/exec/e1", state); CHECK(sh("mkdir -p %s", ex) == 0);
        char pj[600]; snprintf(pj, sizeof pj, "%s/process.json", ex); FILE *f = fopen(pj, "w"); CHECK(f);
        fprintf(f, "{\"exec\":true,\"runtime\":\"runc\",\"args\":[\"/bin/sleep\",\"100\"],\"cwd\":\"/\",\"env\":[\"PATH=/bin\"],\"user\":{\"uid\":0,\"gid\":0}}"); fclose(f);
        pid_t e = fork(); CHECK(e >= 0);
        if (e == 0) { if (chdir(ex) != 0) _exit(99); int o = open("/dev/null", O_WRONLY); dup2(o, 1);
            execl(SHIM_PATH, "isulad-shim", id, bundle, "runc", "info", "1", (char *)NULL); _exit(98); }
        long long t0 = now_ms(); CHECK(wait_exit(e, 20000) == 2); CHECK(now_ms() - t0 < 10000);
        CHECK(sh("runc --root %s/runc list | grep -q running", state) == 0); /* container untouched */
        CHECK(sh("runc --root %s/runc kill %s KILL", state, id) == 0); CHECK(wait_exit(shim, 30000) == 0);
    } else if (!strcmp(c, "shim_killed")) {
        make_bundle("sleep 100", 1); int efd = open_exit_fifo(); char pj[600];
        snprintf(pj, sizeof pj, "{\"exit_fifo\":\"%s/exit_fifo\",\"runtime\":\"runc\"}", state); write_file("process.json", pj);
        pid_t shim = start_shim(NULL); runc_start(); CHECK(kill(shim, SIGKILL) == 0); wait_exit(shim, 10000);
        int status = -1; CHECK(read_status(efd, &status, 10000) == 0);
    } else if (!strcmp(c, "reader_gone")) {
        make_bundle("sleep 1; exit 5", 1); int efd = open_exit_fifo(); char pj[600];
        snprintf(pj, sizeof pj, "{\"exit_fifo\":\"%s/exit_fifo\",\"runtime\":\"runc\"}", state); write_file("process.json", pj);
        pid_t shim = start_shim(NULL); runc_start(); close(efd);
        CHECK(wait_exit(shim, 30000) == 0);
        CHECK(sh("grep -q '\"exit_code\":5,\"signal\":0' %s/exit.json && test $(stat -c %%a %s/exit.json) = 600", state, state) == 0);
    } else if (!strncmp(c, "bad_", 4)) {
        make_bundle("exit 0", 1);
        if (!strcmp(c, "bad_notjson")) write_file("process.json", "{not json");
        else if (!strcmp(c, "bad_types")) write_file("process.json", "{\"exit_fifo\":5,\"runtime\":\"runc\"}");
        else if (!strcmp(c, "bad_longpath")) {
            static char pj[9000]; strcpy(pj, "{\"logPath\":\"/"); for (int i = 0; i < 5000; i++) strcat(pj, "a"); strcat(pj, "\"}");
            write_file("process.json", pj);
        }
        pid_t shim = start_shim(NULL); CHECK(wait_exit(shim, 30000) == 1);
        CHECK(sh("grep -q . %s/shim.err", state) == 0);
        CHECK(sh("test ! -e %s/runc || test -z \"$(runc --root %s/runc list -q)\"", state, state) == 0);
    } else return 2;
    cleanup();
    printf("ok %s\n", c);
    return 0;
}
