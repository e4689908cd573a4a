/*
 * supbench — performance evidence for libsupervisor (issue 6, item 1).
 *
 * Linked against libsupervisor.so exactly as an engine links it. The parent
 * process only orchestrates: every measurement runs in a fresh child
 * (re-exec of /proc/self/exe with "--part <name>"), so library state, malloc
 * arenas and thread counts never leak from one measurement into the next.
 * A child prints "key=value" lines on stdout; the parent takes the median
 * over the runs, prints a table and writes bench/results.json.
 *
 *   supbench [--out results.json] [--runs N] [--only part,part]
 *   supbench --part <name> [arg]        (internal)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "supervisor.h"

/* ------------------------------------------------------------------ */
/* small helpers                                                       */
/* ------------------------------------------------------------------ */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "supbench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (errno %d %s)\n", errno, strerror(errno));
    va_end(ap);
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}


/* Profiling aid: with SUPBENCH_PERF_CTL=<perf --control fifo>, only the
 * measured window is recorded (perf record -D -1 --control fifo:<ctl>). */
static void perf_ctl(const char *cmd)
{
    const char *p = getenv("SUPBENCH_PERF_CTL");
    if (!p) return;
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    if (write(fd, cmd, strlen(cmd)) < 0) {}
    close(fd);
    sleep_ms(50); /* perf reacts asynchronously */
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static int64_t pct(const int64_t *sorted, size_t n, double p)
{
    if (n == 0) return 0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

static void raise_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die("getrlimit");
    if (rl.rlim_cur >= want) return;
    rl.rlim_cur = want > rl.rlim_max ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) die("setrlimit NOFILE %lu", (unsigned long)want);
    if (rl.rlim_cur < want) {
        errno = EMFILE;
        die("RLIMIT_NOFILE hard limit %lu < %lu", (unsigned long)rl.rlim_max, (unsigned long)want);
    }
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_cb, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* root_dir (garbage.json, real fsync) lives under /tmp. Container state dirs
 * (the exit FIFOs) go where an engine keeps them: iSulad uses /var/run/isulad,
 * a tmpfs; here $SUPBENCH_STATE_BASE, default /dev/shm (tmpfs). On a disk
 * file system every FIFO read also dirties the inode (atime) in the journal. */
static char *make_dir_in(const char *base, const char *tag)
{
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof(tmpl), "%s/supbench-%s-XXXXXX", base, tag);
    char *dir = strdup(tmpl);
    if (!dir || !mkdtemp(dir)) die("mkdtemp %s", tmpl);
    return dir;
}

static const char *state_base(void)
{
    const char *b = getenv("SUPBENCH_STATE_BASE");
    return b && *b ? b : "/dev/shm";
}

static char *make_state_root(const char *tag) { return make_dir_in(state_base(), tag); }

static char *make_root(const char *tag)
{
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof(tmpl), "/tmp/supbench-%s-XXXXXX", tag);
    char *dir = strdup(tmpl);
    if (!dir || !mkdtemp(dir)) die("mkdtemp");
    return dir;
}

/* iSulad container ids are 64 hex characters; the last 8 carry the index. */
static void make_id(char out[65], unsigned idx)
{
    snprintf(out, 65, "5ab3c0ffee0d15ea5e0000000000000000000000000000000000beef%08x", idx);
}

static long id_index(const char *id)
{
    if (!id || strlen(id) != 64) return -1;
    return strtol(id + 56, NULL, 16);
}

static unsigned long long proc_start_time(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    p += 2; /* field 3 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p) return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
}

/* A pid that names no process any more, with the start time it had: a child
 * that exited, read while it was a zombie, then reaped. */
static void dead_pid(int *pid, unsigned long long *start)
{
    pid_t c = fork();
    if (c < 0) die("fork");
    if (c == 0) _exit(0);
    siginfo_t si;
    if (waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT) != 0) die("waitid");
    *start = proc_start_time(c);
    if (waitpid(c, NULL, 0) != c) die("waitpid");
    *pid = c;
}

static pid_ppid_info_t gone_info(void)
{
    pid_ppid_info_t info;
    memset(&info, 0, sizeof(info));
    dead_pid(&info.pid, &info.start_time);
    dead_pid(&info.ppid, &info.pstart_time);
    return info;
}

static void opt(const char *k, const char *v)
{
    if (supervisor_set_option(k, v) != 0) die("supervisor_set_option %s=%s", k, v);
}

/* Library log lines go to stderr of the part, prefixed. */
static void log_hook(void *ctx, int level, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "  [lib %d] %s\n", level, msg);
}

/* ------------------------------------------------------------------ */
/* event counter for hooks                                             */
/* ------------------------------------------------------------------ */

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv;
static int64_t *ev_at;       /* arrival time per index */
static int *ev_code;         /* exit code per index */
static int ev_n, ev_seen, ev_dups, ev_bad;

static void ev_init(int n)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&ev_cv, &a);
    ev_at = calloc((size_t)n, sizeof(*ev_at));
    ev_code = calloc((size_t)n, sizeof(*ev_code));
    if (!ev_at || !ev_code) die("calloc");
    ev_n = n;
    ev_seen = ev_dups = ev_bad = 0;
}

static void ev_record(const char *id, int code)
{
    int64_t t = now_ns();
    long idx = id_index(id);
    pthread_mutex_lock(&ev_mu);
    if (idx < 0 || idx >= ev_n) {
        ev_bad++;
    } else if (ev_at[idx] != 0) {
        ev_dups++;
    } else {
        ev_at[idx] = t;
        ev_code[idx] = code;
        if (++ev_seen == ev_n) pthread_cond_broadcast(&ev_cv);
    }
    pthread_mutex_unlock(&ev_mu);
}

/* true when all n arrived before timeout_ms. */
static bool ev_wait_all(int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&ev_mu);
    while (ev_seen < ev_n) {
        if (pthread_cond_timedwait(&ev_cv, &ev_mu, &dl) == ETIMEDOUT) break;
    }
    bool all = ev_seen == ev_n;
    pthread_mutex_unlock(&ev_mu);
    return all;
}

static void on_stopped(void *ctx, const char *id, int pid, int code)
{
    (void)ctx; (void)pid;
    ev_record(id, code);
}

static void on_gc_done(void *ctx, const char *id)
{
    (void)ctx;
    ev_record(id, 0);
}

static void install_hooks(void)
{
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof(ops));
    ops.struct_size = sizeof(ops);
    ops.container_stopped = on_stopped;
    ops.gc_done = on_gc_done;
    ops.log = log_hook;
    if (supervisor_set_engine_ops(&ops) != 0) die("supervisor_set_engine_ops");
}

static void result(const char *key, double v)
{
    printf("%s=%.6f\n", key, v);
    fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* armed monitors                                                      */
/* ------------------------------------------------------------------ */

typedef struct armed {
    int n;
    int *wfd;     /* write ends held by the bench (the shims' role) */
    int *rfd;     /* read ends, owned by the library once armed */
} armed_t;

/* Creates n state dirs with exit FIFOs and opens the read ends (not armed). */
static armed_t prepare_fifos(const char *root, int n)
{
    armed_t a = { n, calloc((size_t)n, sizeof(int)), calloc((size_t)n, sizeof(int)) };
    if (!a.wfd || !a.rfd) die("calloc");
    for (int i = 0; i < n; i++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/c%05d-XXXXXX", root, i);
        if (!mkdtemp(dir)) die("mkdtemp %s", dir);
        char *fifo = container_exit_fifo_create(dir);
        if (!fifo) die("container_exit_fifo_create %s", dir);
        a.rfd[i] = container_exit_fifo_open(fifo);
        if (a.rfd[i] < 0) die("container_exit_fifo_open %s", fifo);
        /* Keep the path to open the write end after arming. */
        a.wfd[i] = -1;
        free(fifo);
    }
    return a;
}

static void arm_all(const char *root, armed_t *a, const pid_ppid_info_t *info, bool open_writers)
{
    DIR *d = NULL;
    (void)d;
    for (int i = 0; i < a->n; i++) {
        char id[65];
        make_id(id, (unsigned)i);
        if (container_supervisor_add_exit_monitor(a->rfd[i], info, id, "runc") != 0)
            die("container_supervisor_add_exit_monitor %d", i);
    }
    if (!open_writers) return;
    /* The write ends: found again through /proc/self/fd would be clumsy; the
     * FIFO path is <root>/c<i>-*, so list the root once. */
    DIR *dir = opendir(root);
    if (!dir) die("opendir %s", root);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        int i;
        if (sscanf(e->d_name, "c%05d-", &i) != 1 || i < 0 || i >= a->n) continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s/exit_fifo", root, e->d_name);
        a->wfd[i] = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (a->wfd[i] < 0) die("open write end %s", path);
    }
    closedir(dir);
    for (int i = 0; i < a->n; i++)
        if (a->wfd[i] < 0) { errno = ENOENT; die("no write end for %d", i); }
}

static void close_writers(armed_t *a)
{
    for (int i = 0; i < a->n; i++)
        if (a->wfd[i] >= 0) close(a->wfd[i]);
}

/* ------------------------------------------------------------------ */
/* (a) exit throughput and latency                                     */
/* ------------------------------------------------------------------ */

static void part_exit(int n)
{
    raise_nofile((rlim_t)(2 * n + 256));
    char *root = make_state_root("exit");
    char *gcbase = make_root("exit");
    char gcroot[PATH_MAX];
    snprintf(gcroot, sizeof(gcroot), "%s/gcroot", gcbase);
    opt("root_dir", gcroot);
    install_hooks();
    ev_init(n);
    if (new_supervisor() != 0) die("new_supervisor");
    pid_ppid_info_t info = gone_info();
    armed_t a = prepare_fifos(root, n);
    arm_all(root, &a, &info, true);
    sleep_ms(50); /* let the epoll thread settle (writers opening) */

    int64_t *t_write = calloc((size_t)n, sizeof(int64_t));
    if (!t_write) die("calloc");
    perf_ctl("enable\n");
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++) {
        int status = i % 256;
        t_write[i] = now_ns();
        if (write(a.wfd[i], &status, sizeof(status)) != (ssize_t)sizeof(status)) die("write status %d", i);
    }
    int64_t t_written = now_ns();
    bool all = ev_wait_all(30000);
    getrusage(RUSAGE_SELF, &ru1);
    perf_ctl("disable\n");
    if (!all) fprintf(stderr, "supbench: exit: only %d of %d container_stopped\n", ev_seen, n);

    int64_t *lat = calloc((size_t)n, sizeof(int64_t));
    int64_t last = 0;
    int wrong = 0;
    for (int i = 0; i < n; i++) {
        if (ev_at[i] > last) last = ev_at[i];
        lat[i] = ev_at[i] ? ev_at[i] - t_write[i] : INT64_MAX;
        if (ev_at[i] && ev_code[i] != i % 256) wrong++;
    }
    qsort(lat, (size_t)n, sizeof(int64_t), cmp_i64);
    result("delivered", ev_seen);
    result("duplicates", ev_dups + ev_bad);
    result("wrong_code", wrong);
    result("write_ms", (double)(t_written - t0) / 1e6);
    /* whole process (writer + library threads): CPU and context switches per exit */
    double cpu_us = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e6 +
                    (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
    result("cpu_us_per_exit", cpu_us / n);
    result("csw_per_exit", (double)(ru1.ru_nvcsw - ru0.ru_nvcsw + ru1.ru_nivcsw - ru0.ru_nivcsw) / n);
    result("total_ms", all ? (double)(last - t0) / 1e6 : NAN);
    result("p50_ms", (double)pct(lat, (size_t)n, 50) / 1e6);
    result("p99_ms", (double)pct(lat, (size_t)n, 99) / 1e6);
    result("max_ms", (double)lat[n - 1] / 1e6);
    close_writers(&a);
    if (supervisor_shutdown() != 0) die("supervisor_shutdown");
    rm_rf(root);
    rm_rf(gcbase);
}

/* ------------------------------------------------------------------ */
/* GC helpers                                                          */
/* ------------------------------------------------------------------ */

typedef struct adder {
    int first, count;
    pid_ppid_info_t info;
    pthread_barrier_t *barrier;
    int64_t *lat;  /* per add, may be NULL */
    int failures;
} adder_t;

static void *adder_run(void *arg)
{
    adder_t *ad = arg;
    if (ad->barrier) pthread_barrier_wait(ad->barrier);
    for (int i = 0; i < ad->count; i++) {
        char id[65];
        make_id(id, (unsigned)(ad->first + i));
        int64_t t = now_ns();
        if (gc_add_container(id, "runc", &ad->info) != 0) ad->failures++;
        if (ad->lat) ad->lat[i] = now_ns() - t;
    }
    return NULL;
}

/* n adds from `threads` threads; returns wall time in ns (barrier to last join). */
static int64_t add_parallel(int n, int threads, const pid_ppid_info_t *info, int *failures)
{
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, (unsigned)threads + 1);
    pthread_t tid[64];
    adder_t ad[64];
    int per = n / threads;
    for (int t = 0; t < threads; t++) {
        ad[t] = (adder_t){ t * per, t == threads - 1 ? n - t * per : per, *info, &b, NULL, 0 };
        if (pthread_create(&tid[t], NULL, adder_run, &ad[t]) != 0) die("pthread_create");
    }
    pthread_barrier_wait(&b);
    int64_t t0 = now_ns();
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    int64_t dt = now_ns() - t0;
    *failures = 0;
    for (int t = 0; t < threads; t++) *failures += ad[t].failures;
    pthread_barrier_destroy(&b);
    return dt;
}

/* ------------------------------------------------------------------ */
/* (b) GC drain                                                        */
/* ------------------------------------------------------------------ */

static void part_gcdrain(int n)
{
    char *root = make_root("gcdrain");
    opt("root_dir", root);
    install_hooks();
    ev_init(n);
    if (new_gchandler() != 0) die("new_gchandler");
    pid_ppid_info_t info = gone_info();
    int failures;
    int64_t fill = add_parallel(n, 8, &info, &failures);
    if (failures) { errno = EIO; die("%d gc_add_container failures", failures); }

    perf_ctl("enable\n");
    int64_t t0 = now_ns();
    if (start_gchandler() != 0) die("start_gchandler");
    bool all = ev_wait_all(60000);
    perf_ctl("disable\n");
    int64_t last = 0;
    for (int i = 0; i < n; i++) if (ev_at[i] > last) last = ev_at[i];
    if (!all) fprintf(stderr, "supbench: gcdrain: only %d of %d gc_done\n", ev_seen, n);
    char id[65];
    make_id(id, 0);
    result("fill_ms", (double)fill / 1e6);
    result("done", ev_seen);
    result("duplicates", ev_dups + ev_bad);
    result("still_in_gc", gc_is_gc_progress(id));
    result("total_ms", all ? (double)(last - t0) / 1e6 : NAN);
    result("entries_per_s", all ? n / ((double)(last - t0) / 1e9) : 0);
    if (supervisor_shutdown() != 0) die("supervisor_shutdown");
    rm_rf(root);
}

/* ------------------------------------------------------------------ */
/* (c) durable gc_add_container                                        */
/* ------------------------------------------------------------------ */

static void part_gcadd(int threads, int n)
{
    char *root = make_root("gcadd");
    opt("root_dir", root);
    install_hooks();
    if (new_gchandler() != 0) die("new_gchandler");
    pid_ppid_info_t info = gone_info();
    perf_ctl("enable\n");
    if (threads == 1) {
        int64_t *lat = calloc((size_t)n, sizeof(int64_t));
        adder_t ad = { 0, n, info, NULL, lat, 0 };
        int64_t t0 = now_ns();
        adder_run(&ad);
        int64_t dt = now_ns() - t0;
        if (ad.failures) { errno = EIO; die("%d gc_add_container failures", ad.failures); }
        /* the whole file is rewritten per write: later adds cost more */
        int64_t head = 0, tail = 0;
        int k = n < 100 ? n : 100;
        for (int i = 0; i < k; i++) { head += lat[i]; tail += lat[n - 1 - i]; }
        result("first100_us", (double)head / 1e3 / k);
        result("last100_us", (double)tail / 1e3 / k);
        qsort(lat, (size_t)n, sizeof(int64_t), cmp_i64);
        result("total_ms", (double)dt / 1e6);
        result("us_per_add", (double)dt / 1e3 / n);
        result("p50_us", (double)pct(lat, (size_t)n, 50) / 1e3);
        result("p99_us", (double)pct(lat, (size_t)n, 99) / 1e3);
        /* the first and the last 100 adds: the file grows with the list */
        int64_t first = 0, lastsum = 0;
        (void)first; (void)lastsum;
    } else {
        int failures;
        int64_t dt = add_parallel(n, threads, &info, &failures);
        if (failures) { errno = EIO; die("%d gc_add_container failures", failures); }
        result("total_ms", (double)dt / 1e6);
        result("us_per_add", (double)dt / 1e3 / n);
    }
    perf_ctl("disable\n");
    /* every entry is in the file */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/garbage.json", root);
    struct stat st;
    result("file_bytes", stat(path, &st) == 0 ? (double)st.st_size : -1);
    if (supervisor_shutdown() != 0) die("supervisor_shutdown");
    rm_rf(root);
}

/* ------------------------------------------------------------------ */
/* (d) idle cost                                                       */
/* ------------------------------------------------------------------ */

typedef struct thread_sample {
    int tid;
    char comm[32];
    long long csw;      /* voluntary + nonvoluntary */
    long long run_ns;   /* schedstat field 1 */
} thread_sample_t;

static int sample_threads(thread_sample_t *out, int max)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) die("opendir /proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] == '.') continue;
        int tid = atoi(e->d_name);
        char path[128], buf[4096];
        snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
        FILE *f = fopen(path, "re");
        if (!f) continue;
        char comm[32] = "";
        if (!fgets(comm, sizeof(comm), f)) comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        if (strncmp(comm, "supv-", 5) != 0) continue; /* library threads only */
        thread_sample_t s = { tid, "", 0, 0 };
        snprintf(s.comm, sizeof(s.comm), "%s", comm);
        snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
        f = fopen(path, "re");
        if (!f) continue;
        while (fgets(buf, sizeof(buf), f)) {
            long long v;
            if (sscanf(buf, "voluntary_ctxt_switches: %lld", &v) == 1) s.csw += v;
            if (sscanf(buf, "nonvoluntary_ctxt_switches: %lld", &v) == 1) s.csw += v;
        }
        fclose(f);
        snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
        f = fopen(path, "re");
        if (f) {
            if (fscanf(f, "%lld", &s.run_ns) != 1) s.run_ns = 0;
            fclose(f);
        }
        out[n++] = s;
    }
    closedir(d);
    return n;
}

/* Wake-ups and CPU of library threads over window_ms. */
static void idle_window(const char *tag, int window_ms)
{
    thread_sample_t a[256], b[256];
    struct rusage ra, rb;
    sleep_ms(300); /* settle: thread start-up is not idle cost */
    int na = sample_threads(a, 256);
    getrusage(RUSAGE_SELF, &ra);
    int64_t t0 = now_ns();
    sleep_ms(window_ms);
    int64_t dt = now_ns() - t0;
    int nb = sample_threads(b, 256);
    getrusage(RUSAGE_SELF, &rb);
    long long csw = 0, run = 0;
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < na; j++) {
            if (a[j].tid != b[i].tid) continue;
            long long dc = b[i].csw - a[j].csw;
            csw += dc;
            run += b[i].run_ns - a[j].run_ns;
            if (dc) fprintf(stderr, "  [%s] %s woke %lld times\n", tag, b[i].comm, dc);
        }
    }
    double secs = (double)dt / 1e9;
    double proc_cpu = (double)(rb.ru_utime.tv_sec - ra.ru_utime.tv_sec + rb.ru_stime.tv_sec - ra.ru_stime.tv_sec) * 1e6 +
                      (double)(rb.ru_utime.tv_usec - ra.ru_utime.tv_usec + rb.ru_stime.tv_usec - ra.ru_stime.tv_usec);
    char key[64];
    snprintf(key, sizeof(key), "%s_threads", tag);
    result(key, nb);
    snprintf(key, sizeof(key), "%s_wakeups_per_s", tag);
    result(key, (double)csw / secs);
    snprintf(key, sizeof(key), "%s_cpu_us_per_s", tag);
    result(key, (double)run / 1e3 / secs);
    snprintf(key, sizeof(key), "%s_proc_cpu_us_per_s", tag);
    result(key, proc_cpu / secs);
}

static void part_idle(int window_ms)
{
    const int n = 1000;
    raise_nofile((rlim_t)(2 * n + 256));
    char *root = make_state_root("idle");
    char *gcbase = make_root("idle");
    char gcroot[PATH_MAX];
    snprintf(gcroot, sizeof(gcroot), "%s/gcroot", gcbase);
    opt("root_dir", gcroot);
    install_hooks();
    if (new_supervisor() != 0) die("new_supervisor");
    if (new_gchandler() != 0) die("new_gchandler");
    if (start_gchandler() != 0) die("start_gchandler");
    idle_window("empty", window_ms);

    pid_ppid_info_t info = gone_info();
    armed_t a = prepare_fifos(root, n);
    arm_all(root, &a, &info, true);
    idle_window("armed1000", window_ms);
    close_writers(&a); /* writers closing = EOF exits (137) during shutdown */
    if (supervisor_shutdown() != 0) die("supervisor_shutdown");
    rm_rf(root);
    rm_rf(gcbase);
}

/* ------------------------------------------------------------------ */
/* (e) memory                                                          */
/* ------------------------------------------------------------------ */

static long long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    long long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lld %lld", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res * sysconf(_SC_PAGESIZE);
}

static void part_mem_monitor(int n)
{
    /* One arena: allocations on library threads count in mallinfo2 too. */
    mallopt(M_ARENA_MAX, 1);
    raise_nofile((rlim_t)(2 * n + 256));
    char *root = make_state_root("memmon");
    char *gcbase = make_root("memmon");
    char gcroot[PATH_MAX];
    snprintf(gcroot, sizeof(gcroot), "%s/gcroot", gcbase);
    opt("root_dir", gcroot);
    install_hooks();
    if (new_supervisor() != 0) die("new_supervisor");
    pid_ppid_info_t info = gone_info();
    /* n + 1: monitor 0 warms up one-time allocations (type metadata). */
    armed_t a = prepare_fifos(root, n + 1);
    char id[65];
    make_id(id, 0);
    if (container_supervisor_add_exit_monitor(a.rfd[0], &info, id, "runc") != 0) die("arm warm-up");
    sleep_ms(20);
    struct mallinfo2 m0 = mallinfo2();
    long long r0 = rss_bytes();
    for (int i = 1; i <= n; i++) {
        make_id(id, (unsigned)i);
        if (container_supervisor_add_exit_monitor(a.rfd[i], &info, id, "runc") != 0) die("arm %d", i);
    }
    struct mallinfo2 m1 = mallinfo2();
    long long r1 = rss_bytes();
    result("bytes_per_monitor", ((double)m1.uordblks - (double)m0.uordblks) / n);
    result("rss_bytes_per_monitor", (double)(r1 - r0) / n);
    if (supervisor_shutdown() != 0) die("supervisor_shutdown");
    rm_rf(root);
    rm_rf(gcbase);
}

static void part_mem_gc(int n)
{
    mallopt(M_ARENA_MAX, 1);
    char *root = make_root("memgc");
    opt("root_dir", root);
    install_hooks();
    if (new_gchandler() != 0) die("new_gchandler");
    pid_ppid_info_t info = gone_info();
    char id[65];
    make_id(id, (unsigned)n); /* warm-up entry, outside 0..n-1 */
    if (gc_add_container(id, "runc", &info) != 0) die("gc_add_container warm-up");
    struct mallinfo2 m0 = mallinfo2();
    long long r0 = rss_bytes();
    int failures;
    add_parallel(n, 8, &info, &failures);
    if (failures) { errno = EIO; die("%d gc_add_container failures", failures); }
    /* One more add: its write is after every entry above was encoded, and
     * the persister's transient buffers of the batch writes are released. */
    make_id(id, (unsigned)n + 1);
    if (gc_add_container(id, "runc", &info) != 0) die("gc_add_container");
    struct mallinfo2 m1 = mallinfo2();
    long long r1 = rss_bytes();
    result("bytes_per_entry", ((double)m1.uordblks - (double)m0.uordblks) / (n + 1));
    result("rss_bytes_per_entry", (double)(r1 - r0) / (n + 1));
    if (supervisor_shutdown() != 0) die("supervisor_shutdown");
    rm_rf(root);
}

/* ------------------------------------------------------------------ */
/* (g) OOM watches: cost per watched monitor, idle, exit latency       */
/* ------------------------------------------------------------------ */

/* Own hooks: container_stopped time per index (broadcast on each, for the
 * one-at-a-time latency), container_oom counted (must stay 0 here). */
static pthread_mutex_t ow_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ow_cv;
static int64_t *ow_at;
static int ow_n;
static atomic_int ow_ooms;

static void ow_stopped(void *ctx, const char *id, int pid, int code)
{
    (void)ctx; (void)pid; (void)code;
    int64_t t = now_ns();
    long idx = id_index(id);
    pthread_mutex_lock(&ow_mu);
    if (idx >= 0 && idx < ow_n && ow_at[idx] == 0) ow_at[idx] = t;
    pthread_cond_broadcast(&ow_cv);
    pthread_mutex_unlock(&ow_mu);
}

static void ow_oom(void *ctx, const char *id, unsigned long long kills)
{
    (void)ctx; (void)id; (void)kills;
    atomic_fetch_add(&ow_ooms, 1);
}

static bool ow_wait(int idx, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&ow_mu);
    while (ow_at[idx] == 0)
        if (pthread_cond_timedwait(&ow_cv, &ow_mu, &dl) == ETIMEDOUT) break;
    bool ok = ow_at[idx] != 0;
    pthread_mutex_unlock(&ow_mu);
    return ok;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) die("opendir /proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* n armed monitors, each with its own real cgroup tracked. watched: the
 * cgroups are v1 memory cgroups (/sys/fs/cgroup/memory/<name>), so every
 * monitor gets an OOM watch; otherwise they are created in the pids
 * hierarchy only: tracked and released the same way, but no memory
 * controller, so no watch (the baseline). Reports the memory and fds the
 * tracking added per monitor, the idle wake-ups with all of them armed, and
 * the exit -> container_stopped latency, one exit at a time. */
static void part_oomwatch(int n, int watched, int window_ms)
{
    const char *hier = watched ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup/pids";
    char probe[PATH_MAX];
    snprintf(probe, sizeof(probe), "%s/cgroup.procs", hier);
    if (geteuid() != 0 || access(probe, W_OK) != 0) {
        fprintf(stderr, "supbench: oomwatch: needs root and %s\n", hier);
        result("skipped", 1);
        return;
    }
    mallopt(M_ARENA_MAX, 1);
    raise_nofile((rlim_t)(4 * n + 256));
    char *root = make_state_root("oomw");
    char *gcbase = make_root("oomw");
    char gcroot[PATH_MAX];
    snprintf(gcroot, sizeof(gcroot), "%s/gcroot", gcbase);
    opt("root_dir", gcroot);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ow_cv, &ca);
    ow_n = n + 1;
    ow_at = calloc((size_t)ow_n, sizeof(*ow_at));
    if (!ow_at) die("calloc");
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof(ops));
    ops.struct_size = sizeof(ops);
    ops.container_stopped = ow_stopped;
    ops.container_oom = ow_oom;
    ops.log = log_hook;
    if (supervisor_set_engine_ops(&ops) != 0) die("supervisor_set_engine_ops");
    if (new_supervisor() != 0) die("new_supervisor");
    if (new_gchandler() != 0) die("new_gchandler");
    if (start_gchandler() != 0) die("start_gchandler");

    /* Cgroup i+1 for monitor i+1; monitor 0 (and cgroup 0) warm up. */
    char (*cg)[64] = calloc((size_t)ow_n, sizeof(*cg));
    if (!cg) die("calloc");
    for (int i = 0; i <= n; i++) {
        snprintf(cg[i], sizeof(cg[i]), "supbench-oomw-%d-%d", (int)getpid(), i);
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", hier, cg[i]);
        if (mkdir(p, 0755) != 0) die("mkdir %s", p);
    }
    pid_ppid_info_t info = gone_info();
    armed_t a = prepare_fifos(root, n + 1);
    arm_all(root, &a, &info, true);
    char id[65];
    make_id(id, 0);
    if (supervisor_track_resource(id, SUPERVISOR_RES_CGROUP, cg[0]) != 0) die("track warm-up");
    sleep_ms(50);

    struct mallinfo2 m0 = mallinfo2();
    long long r0 = rss_bytes();
    int f0 = count_fds();
    for (int i = 1; i <= n; i++) {
        make_id(id, (unsigned)i);
        if (supervisor_track_resource(id, SUPERVISOR_RES_CGROUP, cg[i]) != 0) die("track %s", cg[i]);
    }
    sleep_ms(100); /* registrations the epoll thread may finish */
    struct mallinfo2 m1 = mallinfo2();
    long long r1 = rss_bytes();
    int f1 = count_fds();
    result("bytes_per_monitor", ((double)m1.uordblks - (double)m0.uordblks) / n);
    result("rss_bytes_per_monitor", (double)(r1 - r0) / n);
    result("fds_per_monitor", (double)(f1 - f0) / n);

    if (window_ms > 0) idle_window("armed", window_ms);

    /* One exit at a time: the latency of a lone exit, not of a burst. */
    int64_t *lat = calloc((size_t)n, sizeof(int64_t));
    if (!lat) die("calloc");
    int missing = 0;
    for (int i = 1; i <= n; i++) {
        int status = 0;
        int64_t t = now_ns();
        if (write(a.wfd[i], &status, sizeof(status)) != (ssize_t)sizeof(status)) die("write status %d", i);
        if (!ow_wait(i, 10000)) { missing++; lat[i - 1] = INT64_MAX; continue; }
        lat[i - 1] = ow_at[i] - t;
    }
    qsort(lat, (size_t)n, sizeof(int64_t), cmp_i64);
    result("missing", missing);
    result("oom_events", atomic_load(&ow_ooms));
    result("p50_us", (double)pct(lat, (size_t)n, 50) / 1e3);
    result("p99_us", (double)pct(lat, (size_t)n, 99) / 1e3);
    int left = 0;
    for (int i = 1; i <= n; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", hier, cg[i]);
        if (access(p, F_OK) == 0) left++;
    }
    result("cgroups_left", left); /* the cleaner removes each at its exit */
    close_writers(&a);
    if (supervisor_shutdown() != 0) die("supervisor_shutdown");
    for (int i = 0; i <= n; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", hier, cg[i]);
        rmdir(p);
    }
    free(cg);
    free(lat);
    rm_rf(root);
    rm_rf(gcbase);
}

/* The GC list the hard way (issue 10, item 8): n entries whose cleanup
 * keeps failing (the engine's clean_resource says no), each with an attempt
 * count and a last error, the collector running. Measured once every entry
 * has failed once; the next retry is a minute away. */
static atomic_int failing_cleans;
static int clean_fails(void *ctx, const char *id, const char *runtime, int pid)
{
    (void)ctx; (void)id; (void)runtime; (void)pid;
    atomic_fetch_add(&failing_cleans, 1);
    return 1;
}

static void part_mem_gc_failing(int n)
{
    mallopt(M_ARENA_MAX, 1);
    char *root = make_root("memgcfail");
    opt("root_dir", root);
    opt("gc_retry_max_ms", "60000");
    opt("gc_retry_initial_ms", "60000");
    opt("log_level", "error");
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof(ops));
    ops.struct_size = sizeof(ops);
    ops.clean_resource = clean_fails;
    ops.log = log_hook;
    if (supervisor_set_engine_ops(&ops) != 0) die("supervisor_set_engine_ops");
    if (new_gchandler() != 0 || new_supervisor() != 0 || start_gchandler() != 0) die("start");
    pid_ppid_info_t info = gone_info();
    char id[65];
    make_id(id, (unsigned)n);   /* warm-up: pool, collector and persister threads exist */
    if (gc_add_container(id, "runc", &info) != 0) die("gc_add_container warm-up");
    while (atomic_load(&failing_cleans) < 1) usleep(1000);
    struct mallinfo2 m0 = mallinfo2();
    long long r0 = rss_bytes();
    int failures;
    add_parallel(n, 8, &info, &failures);
    if (failures) { errno = EIO; die("%d gc_add_container failures", failures); }
    int64_t deadline = now_ns() + 120 * 1000000000LL;
    while (atomic_load(&failing_cleans) < n + 1 && now_ns() < deadline) usleep(2000);
    if (atomic_load(&failing_cleans) < n + 1) { errno = ETIMEDOUT; die("only %d failed attempts", atomic_load(&failing_cleans)); }
    /* One more add: its write carries every failure above. */
    make_id(id, (unsigned)n + 1);
    if (gc_add_container(id, "runc", &info) != 0) die("gc_add_container");
    malloc_trim(0);
    struct mallinfo2 m1 = mallinfo2();
    long long r1 = rss_bytes();
    result("bytes_per_entry", ((double)m1.uordblks - (double)m0.uordblks) / (n + 1));
    result("rss_bytes_per_entry", (double)(r1 - r0) / (n + 1));
    if (supervisor_shutdown() != 0) die("supervisor_shutdown");
    rm_rf(root);
}

/* ------------------------------------------------------------------ */
/* (f) the shim with real containers                                   */
/* ------------------------------------------------------------------ */

static int run_cmd(char *const argv[], const char *out_path)
{
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        int fd = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    if (waitpid(p, &st, 0) != p) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die("open %s", path);
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) die("write %s", path);
    close(fd);
}

static char *read_text(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && (r = read(fd, buf + len, cap - 1 - len)) > 0) {
        len += (size_t)r;
        if (len + 1 == cap) { cap *= 2; buf = realloc(buf, cap); }
    }
    close(fd);
    if (buf) buf[len] = 0;
    return buf;
}

static long long smaps_kb(pid_t pid, const char *field)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    char *t = read_text(path);
    if (!t) return -1;
    long long v = -1;
    char *p = strstr(t, field);
    if (p) sscanf(p + strlen(field), ": %lld", &v);
    free(t);
    return v;
}

static bool has_children(pid_t pid)
{
    char path[96], buf[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    return n > 0;
}

static const char *shim_path(void)
{
    const char *p = getenv("SUPBENCH_SHIM");
    return p ? p : ".build/release/isulad-shim";
}

/* The bundle: busybox-static as the rootfs, `cmd` (a JSON list's items),
 * read-only root so that all containers share it. */
static void make_bundle_cmd(const char *bundle, const char *cmd)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/rootfs/bin", bundle);
    char *mk[] = { "mkdir", "-p", path, NULL };
    if (run_cmd(mk, NULL) != 0) die("mkdir rootfs");
    char dst[PATH_MAX];
    snprintf(dst, sizeof(dst), "%s/busybox", path);
    char *cp[] = { "cp", "/bin/busybox", dst, NULL };
    if (run_cmd(cp, NULL) != 0) { char *cp2[] = { "cp", "/usr/bin/busybox", dst, NULL }; if (run_cmd(cp2, NULL) != 0) die("cp busybox"); }
    snprintf(dst, sizeof(dst), "%s/sleep", path);
    if (symlink("busybox", dst) != 0) die("symlink");
    snprintf(dst, sizeof(dst), "%s/cat", path);
    if (symlink("busybox", dst) != 0) die("symlink");
    char *spec[] = { "runc", "spec", "--bundle", (char *)bundle, NULL };
    if (run_cmd(spec, NULL) != 0) die("runc spec");
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    char *cfg = read_text(path);
    if (!cfg) die("read config.json");
    /* Two textual edits of runc's generated spec: no terminal, sleep. */
    char *out = malloc(strlen(cfg) + strlen(cmd) + 256), *w = out;
    const char *p = cfg;
    while (*p) {
        if (strncmp(p, "\"terminal\": true", 16) == 0) { w += sprintf(w, "\"terminal\": false"); p += 16; continue; }
        if (strncmp(p, "\"sh\"", 4) == 0) { w += sprintf(w, "%s", cmd); p += 4; continue; }
        *w++ = *p++;
    }
    *w = 0;
    write_text(path, out);
    free(out);
    free(cfg);
}

static void make_bundle(const char *bundle) { make_bundle_cmd(bundle, "\"sleep\", \"600\""); }

static void part_shim(int n)
{
    const char *shim = shim_path();
    char shim_abs[PATH_MAX];
    if (!realpath(shim, shim_abs) || access(shim_abs, X_OK) != 0) {
        result("skipped", 1);
        fprintf(stderr, "supbench: shim: %s not found\n", shim);
        return;
    }
    char *root = make_root("shim");
    char bundle[PATH_MAX];
    snprintf(bundle, sizeof(bundle), "%s/bundle", root);
    make_bundle(bundle);

    pid_t *shims = calloc((size_t)n, sizeof(pid_t));
    int *rfd = calloc((size_t)n, sizeof(int));
    int64_t *t_runtime = calloc((size_t)n, sizeof(int64_t));
    int64_t *t_created = calloc((size_t)n, sizeof(int64_t));
    char (*wd)[PATH_MAX] = calloc((size_t)n, PATH_MAX);
    char (*ids)[65] = calloc((size_t)n, 65);
    int started = 0;
    bool failed = false;
    for (int i = 0; i < n && !failed; i++) {
        make_id(ids[i], (unsigned)i);
        snprintf(wd[i], PATH_MAX, "%s/%s", root, ids[i]);
        if (mkdir(wd[i], 0700) != 0) die("mkdir %s", wd[i]);
        char *fifo = container_exit_fifo_create(wd[i]);
        if (!fifo) die("container_exit_fifo_create");
        rfd[i] = container_exit_fifo_open(fifo);
        if (rfd[i] < 0) die("container_exit_fifo_open");
        char pj[PATH_MAX * 3], path[PATH_MAX + 32];
        /* An attach socket, as iSulad passes one: served, no client attached. */
        snprintf(pj, sizeof(pj), "{\"exit_fifo\":\"%s\",\"runtime\":\"runc\",\"exec\":false,\"open_stdin\":false,"
                 "\"open_tty\":false,\"attach_socket\":\"%s/attach.sock\"}", fifo, wd[i]);
        free(fifo);
        snprintf(path, sizeof(path), "%s/process.json", wd[i]);
        write_text(path, pj);

        int64_t t0 = now_ns();
        pid_t p = fork();
        if (p < 0) die("fork");
        if (p == 0) {
            if (chdir(wd[i]) != 0) _exit(126);
            char log[PATH_MAX + 16];
            snprintf(log, sizeof(log), "%s/shim.log", wd[i]);
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            int nul = open("/dev/null", O_RDWR);
            if (fd >= 0) dup2(fd, 2);
            if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); }
            setsid();
            execl(shim_abs, "isulad-shim", ids[i], bundle, "runc", (char *)NULL);
            _exit(127);
        }
        shims[i] = p;
        started++;
        /* Start-up as observed from outside: the shim's first child (the
         * runtime) appearing, then the runtime's pid file. Sampled every
         * 100 us; bounded by 30 s. */
        char pidfile[PATH_MAX + 8];
        snprintf(pidfile, sizeof(pidfile), "%s/pid", wd[i]);
        int64_t deadline = t0 + 30000000000LL;
        while (now_ns() < deadline) {
            if (!t_runtime[i] && has_children(p)) t_runtime[i] = now_ns() - t0;
            struct stat st;
            if (stat(pidfile, &st) == 0 && st.st_size > 0) { t_created[i] = now_ns() - t0; break; }
            if (waitpid(p, NULL, WNOHANG) == p) { shims[i] = -1; break; }
            usleep(100);
        }
        if (!t_created[i]) {
            fprintf(stderr, "supbench: shim %d did not create its container (see %s/shim.log)\n", i, wd[i]);
            failed = true;
            break;
        }
        char rroot[PATH_MAX + 8];
        snprintf(rroot, sizeof(rroot), "%s/runc", wd[i]);
        char *start[] = { "runc", "--root", rroot, "start", ids[i], NULL };
        if (run_cmd(start, NULL) != 0) { fprintf(stderr, "supbench: runc start %d failed\n", i); failed = true; }
    }

    if (!failed) {
        sleep_ms(500); /* the shims settle into their wait loops */
        int64_t *uss = calloc((size_t)n, sizeof(int64_t)), *pss = calloc((size_t)n, sizeof(int64_t));
        int64_t *rss = calloc((size_t)n, sizeof(int64_t));
        int64_t *tr = calloc((size_t)n, sizeof(int64_t)), *tc = calloc((size_t)n, sizeof(int64_t));
        for (int i = 0; i < n; i++) {
            uss[i] = smaps_kb(shims[i], "Private_Clean") + smaps_kb(shims[i], "Private_Dirty");
            pss[i] = smaps_kb(shims[i], "\nPss");
            rss[i] = smaps_kb(shims[i], "Rss");
            tr[i] = t_runtime[i];
            tc[i] = t_created[i];
        }
        qsort(uss, (size_t)n, sizeof(int64_t), cmp_i64);
        qsort(pss, (size_t)n, sizeof(int64_t), cmp_i64);
        qsort(rss, (size_t)n, sizeof(int64_t), cmp_i64);
        qsort(tr, (size_t)n, sizeof(int64_t), cmp_i64);
        qsort(tc, (size_t)n, sizeof(int64_t), cmp_i64);
        const char *dump = getenv("SUPBENCH_SHIM_SMAPS");
        if (dump) {
            char src[64], cmd[PATH_MAX + 128];
            snprintf(src, sizeof(src), "/proc/%d/smaps", (int)shims[0]);
            snprintf(cmd, sizeof(cmd), "cat %s > %s", src, dump);
            if (system(cmd) != 0) fprintf(stderr, "supbench: cannot dump %s\n", src);
        }
        result("containers", n);
        result("uss_kib_median", (double)uss[n / 2]);
        result("uss_kib_max", (double)uss[n - 1]);
        result("pss_kib_median", (double)pss[n / 2]);
        result("pss_kib_max", (double)pss[n - 1]);
        result("rss_kib_median", (double)rss[n / 2]);
        result("startup_to_runtime_ms", (double)tr[n / 2] / 1e6);
        result("startup_to_created_ms", (double)tc[n / 2] / 1e6);
    } else {
        result("skipped", 2);
    }

    /* Stop every container; each shim then deletes it and reports. */
    for (int i = 0; i < started; i++) {
        char rroot[PATH_MAX + 8];
        snprintf(rroot, sizeof(rroot), "%s/runc", wd[i]);
        char *kill_[] = { "runc", "--root", rroot, "kill", ids[i], "KILL", NULL };
        run_cmd(kill_, NULL);
    }
    int delivered = 0;
    for (int i = 0; i < started; i++) {
        if (shims[i] <= 0) continue;
        int64_t deadline = now_ns() + 20000000000LL;
        int st = 0;
        pid_t r = 0;
        while ((r = waitpid(shims[i], &st, WNOHANG)) == 0 && now_ns() < deadline) usleep(1000);
        if (r == 0) { kill(shims[i], SIGKILL); waitpid(shims[i], &st, 0); }
        int code;
        if (read(rfd[i], &code, sizeof(code)) == (ssize_t)sizeof(code)) delivered++;
    }
    if (!failed) result("statuses_delivered", delivered);
    for (int i = 0; i < started; i++) {
        char rroot[PATH_MAX + 8];
        snprintf(rroot, sizeof(rroot), "%s/runc", wd[i]);
        char *del[] = { "runc", "--root", rroot, "delete", "--force", ids[i], NULL };
        run_cmd(del, NULL);
        close(rfd[i]);
    }
    if (!getenv("SUPBENCH_KEEP")) rm_rf(root);
}

/* The shim's memory with attach clients: one `cat` container (open_stdin,
 * attach socket), USS/RSS with no client, with `n` clients attached, and
 * after each client sent 1 KiB that the container echoed to all of them. */
static int attach_one(const char *sock, const char *wd, int k, int fds[3])
{
    char paths[3][PATH_MAX];
    const char *roles[3] = { "in", "out", "err" };
    for (int r = 0; r < 3; r++) {
        snprintf(paths[r], PATH_MAX, "%s/attach-%d-%s", wd, k, roles[r]);
        if (mkfifo(paths[r], 0600) != 0 || chmod(paths[r], 0600) != 0) die("mkfifo %s", paths[r]);
    }
    fds[1] = open(paths[1], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    fds[2] = open(paths[2], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) die("connect %s", sock);
    char msg[PATH_MAX * 3 + 4];
    int len = snprintf(msg, sizeof(msg), "%s %s %s", paths[0], paths[1], paths[2]);
    int answer = -2;
    struct pollfd pf = { .fd = s, .events = POLLIN };
    if (write(s, msg, (size_t)len) != len || poll(&pf, 1, 10000) != 1 || read(s, &answer, 4) != 4) answer = -2;
    close(s);
    fds[0] = answer == 0 ? open(paths[0], O_WRONLY | O_NONBLOCK | O_CLOEXEC) : -1;
    return answer;
}

static void part_shim_attach(int n)
{
    const char *shim = shim_path();
    char shim_abs[PATH_MAX];
    if (!realpath(shim, shim_abs) || access(shim_abs, X_OK) != 0) { result("skipped", 1); return; }
    char *root = make_root("shimattach");
    char bundle[PATH_MAX], wd[PATH_MAX], sock[PATH_MAX + 16], id[65];
    snprintf(bundle, sizeof(bundle), "%s/bundle", root);
    make_bundle_cmd(bundle, "\"cat\"");
    snprintf(id, sizeof(id), "shimattach-%d", (int)getpid()); /* short: clients connect by path */
    snprintf(wd, sizeof(wd), "%s/%s", root, id);
    snprintf(sock, sizeof(sock), "%s/attach.sock", wd);
    if (mkdir(wd, 0700) != 0) die("mkdir %s", wd);
    char *fifo = container_exit_fifo_create(wd);
    int rfd = fifo ? container_exit_fifo_open(fifo) : -1;
    if (rfd < 0) die("exit fifo");
    char pj[PATH_MAX * 3], path[PATH_MAX + 32];
    snprintf(pj, sizeof(pj), "{\"exit_fifo\":\"%s\",\"runtime\":\"runc\",\"open_stdin\":true,\"attach_socket\":\"%s\"}", fifo, sock);
    free(fifo);
    snprintf(path, sizeof(path), "%s/process.json", wd);
    write_text(path, pj);
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        if (chdir(wd) != 0) _exit(126);
        int nul = open("/dev/null", O_RDWR);
        int log = open("shim.log", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); }
        if (log >= 0) dup2(log, 2);
        setsid();
        execl(shim_abs, "isulad-shim", id, bundle, "runc", (char *)NULL);
        _exit(127);
    }
    char pidfile[PATH_MAX + 8], rroot[PATH_MAX + 8];
    snprintf(pidfile, sizeof(pidfile), "%s/pid", wd);
    snprintf(rroot, sizeof(rroot), "%s/runc", wd);
    int64_t deadline = now_ns() + 30000000000LL;
    struct stat st;
    while (now_ns() < deadline && !(stat(pidfile, &st) == 0 && st.st_size > 0)) usleep(1000);
    char *start[] = { "runc", "--root", rroot, "start", id, NULL };
    bool ok = stat(pidfile, &st) == 0 && run_cmd(start, NULL) == 0;
    if (ok) {
        sleep_ms(300);
        /* One shim alone owns its binary's pages (private clean): the
         * growth over this figure is what clients cost. */
        int64_t uss0 = smaps_kb(p, "Private_Clean") + smaps_kb(p, "Private_Dirty");
        result("uss_kib_no_client", (double)uss0);
        result("rss_kib_no_client", (double)smaps_kb(p, "Rss"));
        /* Serving the socket with nobody attached costs nothing over time. */
        sleep_ms(3000);
        result("uss_kib_growth_idle_3s", (double)(smaps_kb(p, "Private_Clean") + smaps_kb(p, "Private_Dirty") - uss0));
        int (*fds)[3] = calloc((size_t)n, sizeof(int[3]));
        int attached = 0;
        for (int k = 0; k < n; k++) attached += attach_one(sock, wd, k, fds[k]) == 0;
        sleep_ms(100);
        result("clients_attached", attached);
        result("uss_kib_attached", (double)(smaps_kb(p, "Private_Clean") + smaps_kb(p, "Private_Dirty")));
        result("uss_kib_growth_attached", (double)(smaps_kb(p, "Private_Clean") + smaps_kb(p, "Private_Dirty") - uss0));
        result("rss_kib_attached", (double)smaps_kb(p, "Rss"));
        /* Traffic: each client sends 1 KiB, every client reads all n KiB back. */
        char kib[1024];
        memset(kib, 'x', sizeof(kib) - 1);
        kib[sizeof(kib) - 1] = '\n';
        int64_t want = (int64_t)n * (int64_t)sizeof(kib), *got = calloc((size_t)n, sizeof(int64_t));
        for (int k = 0; k < n; k++) if (fds[k][0] >= 0 && write(fds[k][0], kib, sizeof(kib)) != (ssize_t)sizeof(kib)) die("write");
        int64_t end = now_ns() + 10000000000LL;
        int complete = 0;
        while (complete < n && now_ns() < end) {
            complete = 0;
            for (int k = 0; k < n; k++) {
                char buf[8192];
                ssize_t r;
                while ((r = read(fds[k][1], buf, sizeof(buf))) > 0) got[k] += r;
                complete += got[k] >= want;
            }
            usleep(1000);
        }
        result("clients_echoed", complete);
        result("uss_kib_after_traffic", (double)(smaps_kb(p, "Private_Clean") + smaps_kb(p, "Private_Dirty")));
        result("uss_kib_growth_traffic", (double)(smaps_kb(p, "Private_Clean") + smaps_kb(p, "Private_Dirty") - uss0));
        result("rss_kib_after_traffic", (double)smaps_kb(p, "Rss"));
        for (int k = 0; k < n; k++) for (int r = 0; r < 3; r++) if (fds[k][r] >= 0) close(fds[k][r]);
        free(fds);
        free(got);
    } else {
        fprintf(stderr, "supbench: shimattach: container did not start (see %s/shim.log)\n", wd);
        result("skipped", 2);
    }
    char *kill_[] = { "runc", "--root", rroot, "kill", id, "KILL", NULL };
    run_cmd(kill_, NULL);
    int wst;
    int64_t wend = now_ns() + 20000000000LL;
    while (waitpid(p, &wst, WNOHANG) == 0 && now_ns() < wend) usleep(1000);
    kill(p, SIGKILL);
    waitpid(p, &wst, WNOHANG);
    char *del[] = { "runc", "--root", rroot, "delete", "--force", id, NULL };
    run_cmd(del, NULL);
    close(rfd);
    if (!getenv("SUPBENCH_KEEP")) rm_rf(root);
}

/* ------------------------------------------------------------------ */
/* orchestration                                                       */
/* ------------------------------------------------------------------ */

#define MAX_KEYS 32
#define MAX_RUNS 16

typedef struct series {
    char part[32];
    char key[48];
    double v[MAX_RUNS];
    int n;
} series_t;

static series_t series[256];
static int nseries;

static series_t *series_get(const char *part, const char *key)
{
    for (int i = 0; i < nseries; i++)
        if (!strcmp(series[i].part, part) && !strcmp(series[i].key, key)) return &series[i];
    series_t *s = &series[nseries++];
    memset(s, 0, sizeof(*s));
    snprintf(s->part, sizeof(s->part), "%s", part);
    snprintf(s->key, sizeof(s->key), "%s", key);
    return s;
}

static double median_of(series_t *s)
{
    if (!s || s->n == 0) return NAN;
    double v[MAX_RUNS];
    memcpy(v, s->v, sizeof(double) * (size_t)s->n);
    for (int i = 1; i < s->n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) { double t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
    return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

static series_t *find(const char *part, const char *key)
{
    for (int i = 0; i < nseries; i++)
        if (!strcmp(series[i].part, part) && !strcmp(series[i].key, key)) return &series[i];
    return NULL;
}

/* Runs one part in a fresh process; records its key=value lines. */
static bool run_part(const char *part, const char *name, const char *arg1, const char *arg2)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) die("pipe2");
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        dup2(pfd[1], 1);
        execl("/proc/self/exe", "supbench", "--part", part, arg1 ? arg1 : "", arg2 ? arg2 : "", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        series_t *s = series_get(name, line);
        if (s->n < MAX_RUNS) s->v[s->n++] = strtod(eq + 1, NULL);
    }
    fclose(f);
    int st;
    waitpid(p, &st, 0);
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok) fprintf(stderr, "supbench: part %s failed (status %d)\n", name, st);
    return ok;
}

typedef struct machine {
    long nproc;
    char kernel[128];
    char cpu[128];
    long long mem_kb;
    char fs[64];
} machine_t;

static machine_t machine_info(void)
{
    machine_t m;
    memset(&m, 0, sizeof(m));
    m.nproc = sysconf(_SC_NPROCESSORS_ONLN);
    struct utsname u;
    if (uname(&u) == 0) snprintf(m.kernel, sizeof(m.kernel), "%s %s", u.sysname, u.release);
    FILE *f = fopen("/proc/cpuinfo", "re");
    char line[512];
    snprintf(m.cpu, sizeof(m.cpu), "unknown");
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) { c += 2; c[strcspn(c, "\n")] = 0; snprintf(m.cpu, sizeof(m.cpu), "%s", c); }
            break;
        }
    }
    if (f) fclose(f);
    f = fopen("/proc/meminfo", "re");
    if (f) { if (fscanf(f, "MemTotal: %lld", &m.mem_kb) != 1) m.mem_kb = 0; fclose(f); }
    /* file system of /tmp (where root_dir and the FIFOs live) */
    f = fopen("/proc/self/mounts", "re");
    size_t best = 0;
    while (f && fgets(line, sizeof(line), f)) {
        char dev[256], mnt[256], type[64];
        if (sscanf(line, "%255s %255s %63s", dev, mnt, type) != 3) continue;
        size_t l = strlen(mnt);
        if (strncmp("/tmp", mnt, l) == 0 && (l == 1 || mnt[l] == 0 || "/tmp"[l] == 0 || "/tmp"[l] == '/') && l >= best) {
            best = l;
            snprintf(m.fs, sizeof(m.fs), "%s", type);
        }
    }
    if (f) fclose(f);
    return m;
}

typedef struct metric {
    const char *section, *label;
    const char *part, *key;
    const char *unit;
    const char *target_text;   /* NULL: informational */
    double target;
    int cmp;                    /* -1: value must be <= target (or < with strict), +1: >= */
    bool strict;
    const char *baseline;       /* the original C implementation */
} metric_t;

static bool passes(const metric_t *m, double v)
{
    if (!m->target_text || isnan(v)) return !isnan(v) || !m->target_text;
    if (m->cmp < 0) return m->strict ? v < m->target : v <= m->target;
    return m->strict ? v > m->target : v >= m->target;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--part")) {
        const char *part = argv[2];
        int a1 = argc > 3 ? atoi(argv[3]) : 0, a2 = argc > 4 ? atoi(argv[4]) : 0;
        if (!strcmp(part, "exit")) part_exit(a1);
        else if (!strcmp(part, "gcdrain")) part_gcdrain(a1);
        else if (!strcmp(part, "gcadd")) part_gcadd(a1, a2);
        else if (!strcmp(part, "idle")) part_idle(a1);
        else if (!strcmp(part, "memmon")) part_mem_monitor(a1);
        else if (!strcmp(part, "memgc")) part_mem_gc(a1);
        else if (!strcmp(part, "memgcfail")) part_mem_gc_failing(a1);
        else if (!strcmp(part, "oomwatch")) part_oomwatch(a1, a2, 2500);
        else if (!strcmp(part, "shim")) part_shim(a1);
        else if (!strcmp(part, "shimattach")) part_shim_attach(a1);
        else { fprintf(stderr, "unknown part %s\n", part); return 2; }
        return 0;
    }

    const char *out = "bench/results.json";
    const char *only = NULL;
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else { fprintf(stderr, "usage: supbench [--out file] [--runs N] [--only a,b,c,d,e,f,g]\n"); return 2; }
    }
    if (runs < 1) runs = 1;
    if (runs > MAX_RUNS) runs = MAX_RUNS;
#define WANT(x) (!only || strchr(only, (x)))

    machine_t m = machine_info();
    printf("libsupervisor %s benchmark — %ld CPUs, %s, %s, /tmp on %s, %d runs per figure (median)\n\n",
           supervisor_version(), m.nproc, m.cpu, m.kernel, m.fs, runs);
    fflush(stdout);
    bool ok = true;
    int64_t t_start = now_ns();
    for (int r = 0; r < runs; r++) {
        fprintf(stderr, "run %d/%d\n", r + 1, runs);
        if (WANT('a')) { ok &= run_part("exit", "exit200", "200", NULL); ok &= run_part("exit", "exit2000", "2000", NULL); }
        if (WANT('b')) ok &= run_part("gcdrain", "gcdrain", "1000", NULL);
        if (WANT('c')) { ok &= run_part("gcadd", "gcadd_seq", "1", "2000"); ok &= run_part("gcadd", "gcadd_8x250", "8", "2000"); }
        if (WANT('e')) { ok &= run_part("memmon", "memmon", "1000", NULL); ok &= run_part("memgc", "memgc", "1000", NULL);
                          ok &= run_part("memgcfail", "memgcfail", "10000", NULL); }
        if (WANT('d') && r < 3) ok &= run_part("idle", "idle", "2500", NULL);
        if (WANT('g') && r < 3) {
            ok &= run_part("oomwatch", "oomwatch_on", "1000", "1");
            ok &= run_part("oomwatch", "oomwatch_off", "1000", "0");
        }
    }
    /* One shim per container: its private pages multiply, its shared ones
     * are split by more shims, so PSS is measured at two densities. */
    if (WANT('f')) {
        ok &= run_part("shim", "shim10", "10", NULL);
        ok &= run_part("shim", "shim", "20", NULL);
        ok &= run_part("shimattach", "shimattach", "16", NULL);
    }
    double elapsed = (double)(now_ns() - t_start) / 1e9;

    const metric_t metrics[] = {
        { "a", "200 exits: all container_stopped", "exit200", "total_ms", "ms", NULL, 0, -1, false, NULL },
        { "a", "200 exits: median latency", "exit200", "p50_ms", "ms", NULL, 0, -1, false, NULL },
        { "a", "200 exits: p99 latency", "exit200", "p99_ms", "ms", NULL, 0, -1, false, NULL },
        { "a", "2,000 exits: all container_stopped", "exit2000", "total_ms", "ms", "< 10 ms", 10, -1, true, "50 ms" },
        { "a", "2,000 exits: CPU per exit (all threads)", "exit2000", "cpu_us_per_exit", "us", NULL, 0, -1, false, NULL },
        { "a", "2,000 exits: context switches per exit", "exit2000", "csw_per_exit", "1", NULL, 0, -1, false, NULL },
        { "a", "2,000 exits: median latency", "exit2000", "p50_ms", "ms", NULL, 0, -1, false, NULL },
        { "a", "2,000 exits: p99 latency", "exit2000", "p99_ms", "ms", "< 5 ms", 5, -1, true, "44 ms" },
        { "b", "GC drain of 1,000 entries", "gcdrain", "total_ms", "ms", "< 1000 ms", 1000, -1, true, "~105 s (9.5 entries/s)" },
        { "b", "GC drain rate", "gcdrain", "entries_per_s", "entries/s", NULL, 0, 1, false, "9.5 entries/s" },
        { "c", "durable add, sequential (2,000)", "gcadd_seq", "us_per_add", "us/add", "<= 1370 us", 1370, -1, false, "1370 us (non-durable)" },
        { "c", "durable add, sequential: first 100 adds", "gcadd_seq", "first100_us", "us/add", NULL, 0, -1, false, NULL },
        { "c", "durable add, sequential: last 100 adds", "gcadd_seq", "last100_us", "us/add", NULL, 0, -1, false, NULL },
        { "c", "durable add, sequential: p99", "gcadd_seq", "p99_us", "us", NULL, 0, -1, false, NULL },
        { "c", "durable add, 8 threads x 250: total", "gcadd_8x250", "total_ms", "ms", "<= 680 ms (5x faster than 3.4 s)", 680, -1, false, "3400 ms (non-durable)" },
        { "c", "durable add, 8 threads x 250: per add", "gcadd_8x250", "us_per_add", "us/add", NULL, 0, -1, false, NULL },
        { "d", "idle, nothing armed: wake-ups", "idle", "empty_wakeups_per_s", "1/s", "0 /s", 0, -1, false, "10 /s" },
        { "d", "idle, nothing armed: CPU", "idle", "empty_cpu_us_per_s", "us/s", NULL, 0, -1, false, NULL },
        { "d", "idle, 1,000 armed: wake-ups", "idle", "armed1000_wakeups_per_s", "1/s", "0 /s", 0, -1, false, "10 /s" },
        { "d", "idle, 1,000 armed: CPU", "idle", "armed1000_cpu_us_per_s", "us/s", NULL, 0, -1, false, NULL },
        { "e", "memory per armed monitor (malloc)", "memmon", "bytes_per_monitor", "B", "<= 256 B", 256, -1, false, "256 B" },
        { "e", "memory per armed monitor (RSS)", "memmon", "rss_bytes_per_monitor", "B", NULL, 0, -1, false, NULL },
        { "e", "memory per GC entry (malloc)", "memgc", "bytes_per_entry", "B", "<= 512 B", 512, -1, false, "761 B" },
        { "e", "memory per GC entry (RSS)", "memgc", "rss_bytes_per_entry", "B", NULL, 0, -1, false, NULL },
        { "e", "GC entry, 10,000 failing (malloc)", "memgcfail", "bytes_per_entry", "B", NULL, 0, -1, false, NULL },
        { "e", "GC entry, 10,000 failing (RSS)", "memgcfail", "rss_bytes_per_entry", "B", "<= 512 B", 512, -1, false, "761 B" },
        { "g", "OOM watch: malloc per watched monitor", "oomwatch_on", "bytes_per_monitor", "B", NULL, 0, -1, false, NULL },
        { "g", "OOM watch: RSS per watched monitor", "oomwatch_on", "rss_bytes_per_monitor", "B", NULL, 0, -1, false, NULL },
        { "g", "OOM watch: fds per watched monitor", "oomwatch_on", "fds_per_monitor", "fds", NULL, 0, -1, false, NULL },
        { "g", "unwatched (pids) cgroup: malloc per monitor", "oomwatch_off", "bytes_per_monitor", "B", NULL, 0, -1, false, NULL },
        { "g", "unwatched (pids) cgroup: fds per monitor", "oomwatch_off", "fds_per_monitor", "fds", NULL, 0, -1, false, NULL },
        { "g", "idle, 1,000 watched monitors: wake-ups", "oomwatch_on", "armed_wakeups_per_s", "1/s", "0 /s", 0, -1, false, NULL },
        { "g", "exit -> stopped, watched: p50", "oomwatch_on", "p50_us", "us", NULL, 0, -1, false, NULL },
        { "g", "exit -> stopped, watched: p99", "oomwatch_on", "p99_us", "us", NULL, 0, -1, false, NULL },
        { "g", "exit -> stopped, unwatched (pids): p50", "oomwatch_off", "p50_us", "us", NULL, 0, -1, false, NULL },
        { "g", "exit -> stopped, unwatched (pids): p99", "oomwatch_off", "p99_us", "us", NULL, 0, -1, false, NULL },
        { "f", "shim USS (median of 10)", "shim10", "uss_kib_median", "KiB", "<= 168 KiB", 168, -1, false, "168 KiB" },
        { "f", "shim PSS (median of 10)", "shim10", "pss_kib_median", "KiB", "<= 271 KiB", 271, -1, false, "271 KiB" },
        { "f", "shim RSS (median of 10)", "shim10", "rss_kib_median", "KiB", "<= 2048 KiB", 2048, -1, false, NULL },
        { "f", "shim USS (median of 20)", "shim", "uss_kib_median", "KiB", "<= 168 KiB", 168, -1, false, "168 KiB" },
        { "f", "shim USS (max of 20)", "shim", "uss_kib_max", "KiB", NULL, 0, -1, false, NULL },
        { "f", "shim PSS (median of 20)", "shim", "pss_kib_median", "KiB", "<= 237 KiB", 237, -1, false, "237 KiB" },
        { "f", "shim PSS (max of 20)", "shim", "pss_kib_max", "KiB", NULL, 0, -1, false, NULL },
        { "f", "shim RSS (median of 20)", "shim", "rss_kib_median", "KiB", "<= 2048 KiB", 2048, -1, false, "2,016 KiB" },
        { "f", "shim start-up: exec to runtime spawned", "shim", "startup_to_runtime_ms", "ms", NULL, 0, -1, false, NULL },
        { "f", "attach: one shim's USS, no client (owns its text)", "shimattach", "uss_kib_no_client", "KiB", NULL, 0, -1, false, NULL },
        { "f", "attach: USS growth, no client, 3 s later", "shimattach", "uss_kib_growth_idle_3s", "KiB", "0 KiB", 0, -1, false, NULL },
        { "f", "attach: USS growth, 16 clients attached", "shimattach", "uss_kib_growth_attached", "KiB", NULL, 0, -1, false, NULL },
        { "f", "attach: USS growth, 16 KiB echoed to each of 16", "shimattach", "uss_kib_growth_traffic", "KiB", NULL, 0, -1, false, NULL },
        { "f", "attach: shim RSS, 16 clients after traffic", "shimattach", "rss_kib_after_traffic", "KiB", NULL, 0, -1, false, NULL },
        { "f", "attach: clients that got every echoed byte", "shimattach", "clients_echoed", "1", ">= 16", 16, 1, false, NULL },
        { "f", "shim start-up: exec to container created", "shim", "startup_to_created_ms", "ms", NULL, 0, -1, false, NULL },
    };
    const int nm = (int)(sizeof(metrics) / sizeof(metrics[0]));

    printf("%-3s %-44s %12s %-9s %-34s %-6s %s\n", "", "measurement", "value", "unit", "target", "result", "original C");
    for (int i = 0; i < nm; i++) {
        const metric_t *mt = &metrics[i];
        series_t *s = find(mt->part, mt->key);
        if (!s) {
            if (WANT(mt->section[0])) {
                series_t *sk = find(mt->part, "skipped");
                printf("(%s) %-44s %12s\n", mt->section, mt->label, sk ? "skipped" : "failed");
            }
            continue;
        }
        double v = median_of(s);
        printf("(%s) %-44s %12.3f %-9s %-34s %-6s %s\n", mt->section, mt->label, v, mt->unit,
               mt->target_text ? mt->target_text : "-", mt->target_text ? (passes(mt, v) ? "PASS" : "FAIL") : "",
               mt->baseline ? mt->baseline : "");
    }
    series_t *sanity[] = { find("exit200", "duplicates"), find("exit2000", "duplicates"), find("exit200", "wrong_code"),
                           find("exit2000", "wrong_code"), find("gcdrain", "duplicates"), find("gcdrain", "still_in_gc"),
                           find("oomwatch_on", "missing"), find("oomwatch_on", "oom_events"), find("oomwatch_on", "cgroups_left"),
                           find("oomwatch_off", "missing"), find("oomwatch_off", "cgroups_left") };
    for (size_t i = 0; i < sizeof(sanity) / sizeof(sanity[0]); i++) {
        if (sanity[i] && median_of(sanity[i]) != 0) {
            printf("SANITY: %s %s = %g (expected 0)\n", sanity[i]->part, sanity[i]->key, median_of(sanity[i]));
            ok = false;
        }
    }
    if (find("shim", "skipped")) printf("(f) shim: skipped (%s)\n", median_of(find("shim", "skipped")) == 1 ? "no isulad-shim binary" : "containers did not start");
    printf("\nwall time %.1f s\n", elapsed);

    FILE *f = fopen(out, "w");
    if (!f) die("open %s", out);
    time_t now = time(NULL);
    char stamp[64];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "{\n  \"library_version\": ");
    json_str(f, supervisor_version());
    fprintf(f, ",\n  \"date\": \"%s\",\n  \"runs_per_figure\": %d,\n  \"machine\": {\"nproc\": %ld, \"kernel\": ", stamp, runs, m.nproc);
    json_str(f, m.kernel);
    fprintf(f, ", \"cpu_model\": ");
    json_str(f, m.cpu);
    fprintf(f, ", \"mem_total_kib\": %lld, \"tmp_fs\": ", m.mem_kb);
    json_str(f, m.fs);
    fprintf(f, "},\n  \"measurements\": [");
    bool first = true;
    for (int i = 0; i < nm; i++) {
        const metric_t *mt = &metrics[i];
        series_t *s = find(mt->part, mt->key);
        if (!s && !(WANT(mt->section[0]) && find(mt->part, "skipped"))) continue;
        fprintf(f, "%s\n    {\"section\": \"%s\", \"name\": ", first ? "" : ",", mt->section);
        first = false;
        json_str(f, mt->label);
        fprintf(f, ", \"key\": \"%s.%s\", ", mt->part, mt->key);
        if (!s) {
            fprintf(f, "\"value\": null, \"unit\": \"%s\", \"skipped\": true, \"pass\": null}", mt->unit);
            continue;
        }
        double v = median_of(s);
        if (isnan(v)) fprintf(f, "\"value\": null");
        else fprintf(f, "\"value\": %.3f", v);
        fprintf(f, ", \"unit\": \"%s\", \"runs\": [", mt->unit);
        for (int k = 0; k < s->n; k++) fprintf(f, "%s%.3f", k ? ", " : "", isnan(s->v[k]) ? -1.0 : s->v[k]);
        fprintf(f, "], \"target\": ");
        if (mt->target_text) json_str(f, mt->target_text); else fprintf(f, "null");
        fprintf(f, ", \"pass\": ");
        if (mt->target_text) fprintf(f, "%s", passes(mt, v) ? "true" : "false"); else fprintf(f, "null");
        fprintf(f, ", \"original_c\": ");
        if (mt->baseline) json_str(f, mt->baseline); else fprintf(f, "null");
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n  \"wall_time_s\": %.1f\n}\n", elapsed);
    fclose(f);
    printf("results written to %s\n", out);
    return ok ? 0 : 1;
}
