/* testutil — shared helpers for the C test suites (see testutil.h). */
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------------------ */
/* Registries: temp dirs and children, cleaned at the end or on failure      */
/* ------------------------------------------------------------------------ */

#define TU_MAX_DIRS 64
#define TU_MAX_CHILDREN 2048

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static char *reg_dirs[TU_MAX_DIRS];
static size_t reg_ndirs;
static pid_t reg_children[TU_MAX_CHILDREN];
static size_t reg_nchildren;
static pid_t owner_pid;          /* only the process that registered cleans */
static const char *current_case = "?";

static void register_child(pid_t pid)
{
    pthread_mutex_lock(&reg_mu);
    if (reg_nchildren < TU_MAX_CHILDREN) reg_children[reg_nchildren++] = pid;
    pthread_mutex_unlock(&reg_mu);
}

static void forget_child(pid_t pid)
{
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < reg_nchildren; i++) {
        if (reg_children[i] == pid) {
            reg_children[i] = reg_children[--reg_nchildren];
            break;
        }
    }
    pthread_mutex_unlock(&reg_mu);
}

static void kill_children(void)
{
    pthread_mutex_lock(&reg_mu);
    size_t n = reg_nchildren;
    pid_t kids[TU_MAX_CHILDREN];
    memcpy(kids, reg_children, n * sizeof(pid_t));
    reg_nchildren = 0;
    pthread_mutex_unlock(&reg_mu);
    for (size_t i = 0; i < n; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
}

void tu_cleanup(void)
{
    if (getpid() != owner_pid) return;
    pthread_mutex_lock(&reg_mu);
    size_t n = reg_ndirs;
    char *dirs[TU_MAX_DIRS];
    memcpy(dirs, reg_dirs, n * sizeof(char *));
    reg_ndirs = 0;
    pthread_mutex_unlock(&reg_mu);
    const char *keep = getenv("TU_KEEP");
    for (size_t i = 0; i < n; i++) {
        if (keep != NULL && *keep != '\0' && strcmp(keep, "0") != 0)
            fprintf(stderr, "[%s] kept %s\n", current_case, dirs[i]);
        else
            tu_rm_rf(dirs[i]);
        free(dirs[i]);
    }
}

/* ------------------------------------------------------------------------ */
/* Cases and assertions                                                      */
/* ------------------------------------------------------------------------ */

const char *tu_case_name(void) { return current_case; }

void tu_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: [%s] FAIL: ", file, line, current_case);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    if (getpid() == owner_pid) {
        kill_children();
        tu_cleanup();
    }
    /* _exit: library threads may still run; skip destructors and atexit. */
    _exit(1);
}

void tu_log(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "[%s] ", current_case);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tu_main(int argc, char **argv, const tu_case *cases, size_t ncases)
{
    owner_pid = getpid();
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < ncases; i++) printf("%s\n", cases[i].name);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s <case> | --list\n", argc > 0 ? argv[0] : "test");
        return 2;
    }
    for (size_t i = 0; i < ncases; i++) {
        if (strcmp(cases[i].name, argv[1]) == 0) {
            current_case = cases[i].name;
            long long t0 = tu_now_ms();
            cases[i].fn();
            kill_children();
            tu_cleanup();
            fprintf(stderr, "[%s] PASS (%lld ms)\n", current_case, tu_now_ms() - t0);
            fflush(NULL);
            /* Library threads may still be alive when a case does not shut
             * down; _exit avoids racing them with global destructors. */
            _exit(0);
        }
    }
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}

/* ------------------------------------------------------------------------ */
/* Time and bounded waits                                                    */
/* ------------------------------------------------------------------------ */

long long tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tu_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

void tu_cond_init(tu_cond *c)
{
    pthread_condattr_t attr;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &attr);
    pthread_condattr_destroy(&attr);
}

void tu_cond_destroy(tu_cond *c)
{
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

void tu_cond_lock(tu_cond *c) { pthread_mutex_lock(&c->mu); }
void tu_cond_unlock(tu_cond *c) { pthread_mutex_unlock(&c->mu); }
void tu_cond_broadcast(tu_cond *c) { pthread_cond_broadcast(&c->cv); }

static struct timespec deadline_after(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

bool tu_cond_wait_until(tu_cond *c, bool (*pred)(void *arg), void *arg, int timeout_ms)
{
    struct timespec dl = deadline_after(timeout_ms);
    pthread_mutex_lock(&c->mu);
    bool ok = pred(arg);
    while (!ok) {
        int r = pthread_cond_timedwait(&c->cv, &c->mu, &dl);
        ok = pred(arg);
        if (r == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

bool tu_poll_until(bool (*pred)(void *arg), void *arg, int timeout_ms)
{
    long long end = tu_now_ms() + timeout_ms;
    for (;;) {
        if (pred(arg)) return true;
        if (tu_now_ms() >= end) return pred(arg);
        tu_sleep_ms(5);
    }
}

void tu_gate_init(tu_gate *g)
{
    tu_cond_init(&g->c);
    g->open = false;
}

void tu_gate_open(tu_gate *g)
{
    tu_cond_lock(&g->c);
    g->open = true;
    tu_cond_broadcast(&g->c);
    tu_cond_unlock(&g->c);
}

static bool gate_is_open(void *arg) { return ((tu_gate *)arg)->open; }

bool tu_gate_wait(tu_gate *g, int timeout_ms)
{
    return tu_cond_wait_until(&g->c, gate_is_open, g, timeout_ms);
}

/* ------------------------------------------------------------------------ */
/* Event counter                                                             */
/* ------------------------------------------------------------------------ */

typedef struct tu_event_slot {
    char *key;
    int count, pid, code;
} tu_event_slot;

struct tu_events {
    tu_cond c;
    tu_event_slot *slots;
    size_t nslots, cap;
    int total;
};

tu_events *tu_events_new(void)
{
    tu_events *ev = calloc(1, sizeof(*ev));
    if (ev == NULL) FAIL("calloc: out of memory");
    tu_cond_init(&ev->c);
    return ev;
}

void tu_events_free(tu_events *ev)
{
    if (ev == NULL) return;
    for (size_t i = 0; i < ev->nslots; i++) free(ev->slots[i].key);
    free(ev->slots);
    tu_cond_destroy(&ev->c);
    free(ev);
}

/* Caller holds the lock. */
static tu_event_slot *find_slot(tu_events *ev, const char *key)
{
    for (size_t i = 0; i < ev->nslots; i++)
        if (strcmp(ev->slots[i].key, key) == 0) return &ev->slots[i];
    return NULL;
}

void tu_events_record(tu_events *ev, const char *key, int pid, int code)
{
    if (key == NULL) key = "(null)";
    tu_cond_lock(&ev->c);
    tu_event_slot *s = find_slot(ev, key);
    if (s == NULL) {
        if (ev->nslots == ev->cap) {
            size_t cap = ev->cap ? ev->cap * 2 : 16;
            tu_event_slot *n = realloc(ev->slots, cap * sizeof(*n));
            if (n == NULL) FAIL("realloc: out of memory");
            ev->slots = n;
            ev->cap = cap;
        }
        s = &ev->slots[ev->nslots++];
        s->key = strdup(key);
        if (s->key == NULL) FAIL("strdup: out of memory");
        s->count = 0;
    }
    s->count++;
    s->pid = pid;
    s->code = code;
    ev->total++;
    tu_cond_broadcast(&ev->c);
    tu_cond_unlock(&ev->c);
}

int tu_events_count(tu_events *ev, const char *key)
{
    tu_cond_lock(&ev->c);
    tu_event_slot *s = find_slot(ev, key);
    int n = s ? s->count : 0;
    tu_cond_unlock(&ev->c);
    return n;
}

int tu_events_total(tu_events *ev)
{
    tu_cond_lock(&ev->c);
    int n = ev->total;
    tu_cond_unlock(&ev->c);
    return n;
}

int tu_events_keys(tu_events *ev)
{
    tu_cond_lock(&ev->c);
    int n = (int)ev->nslots;
    tu_cond_unlock(&ev->c);
    return n;
}

bool tu_events_last(tu_events *ev, const char *key, int *pid, int *code)
{
    tu_cond_lock(&ev->c);
    tu_event_slot *s = find_slot(ev, key);
    if (s != NULL) {
        if (pid) *pid = s->pid;
        if (code) *code = s->code;
    }
    tu_cond_unlock(&ev->c);
    return s != NULL;
}

struct key_wait { tu_events *ev; const char *key; int n; };

static bool key_reached(void *arg)
{
    struct key_wait *w = arg;
    tu_event_slot *s = find_slot(w->ev, w->key);
    return s != NULL && s->count >= w->n;
}

static bool total_reached(void *arg)
{
    struct key_wait *w = arg;
    return w->ev->total >= w->n;
}

bool tu_events_wait(tu_events *ev, const char *key, int n, int timeout_ms)
{
    struct key_wait w = { ev, key, n };
    return tu_cond_wait_until(&ev->c, key_reached, &w, timeout_ms);
}

bool tu_events_wait_total(tu_events *ev, int n, int timeout_ms)
{
    struct key_wait w = { ev, NULL, n };
    return tu_cond_wait_until(&ev->c, total_reached, &w, timeout_ms);
}

void tu_events_foreach(tu_events *ev,
                       void (*fn)(const char *key, int count, int pid, int code, void *arg),
                       void *arg)
{
    tu_cond_lock(&ev->c);
    for (size_t i = 0; i < ev->nslots; i++)
        fn(ev->slots[i].key, ev->slots[i].count, ev->slots[i].pid, ev->slots[i].code, arg);
    tu_cond_unlock(&ev->c);
}

/* ------------------------------------------------------------------------ */
/* Standard recording hooks                                                  */
/* ------------------------------------------------------------------------ */

tu_events *tu_stopped;
tu_events *tu_gc_done;
tu_events *tu_logs;

static void rec_stopped(void *ctx, const char *id, int pid, int exit_code)
{
    (void)ctx;
    tu_events_record(tu_stopped, id, pid, exit_code);
}

static void rec_gc_done(void *ctx, const char *id)
{
    (void)ctx;
    tu_events_record(tu_gc_done, id, 0, 0);
}

static void rec_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    char key[16];
    snprintf(key, sizeof(key), "%d", level);
    tu_events_record(tu_logs, key, 0, level);
    fprintf(stderr, "[%s] lib log %d: %s\n", current_case, level, msg ? msg : "(null)");
}

void tu_install_recorder(int (*clean)(void *ctx, const char *id, const char *runtime, int pid))
{
    if (tu_stopped == NULL) tu_stopped = tu_events_new();
    if (tu_gc_done == NULL) tu_gc_done = tu_events_new();
    if (tu_logs == NULL) tu_logs = tu_events_new();
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof(ops));
    ops.struct_size = sizeof(ops);
    ops.clean_resource = clean;
    ops.container_stopped = rec_stopped;
    ops.gc_done = rec_gc_done;
    ops.log = rec_log;
    ASSERT_OK(supervisor_set_engine_ops(&ops));
}

char *tu_setup_root(const char *tag)
{
    char *root = tu_mkdtemp(tag);
    ASSERT_OK(supervisor_set_option("root_dir", root));
    ASSERT_OK(supervisor_set_option("kill_retries", "3"));
    ASSERT_OK(supervisor_set_option("kill_retry_interval_ms", "10"));
    ASSERT_OK(supervisor_set_option("gc_retry_initial_ms", "10"));
    ASSERT_OK(supervisor_set_option("gc_retry_max_ms", "200"));
    return root;
}

/* ------------------------------------------------------------------------ */
/* Temp dirs and files                                                       */
/* ------------------------------------------------------------------------ */

char *tu_mkdtemp(const char *tag)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "/tmp/sup-%s-XXXXXX", tag ? tag : "test");
    if (mkdtemp(buf) == NULL) FAIL("mkdtemp %s: %s", buf, strerror(errno));
    char *dir = strdup(buf);
    if (dir == NULL) FAIL("strdup: out of memory");
    pthread_mutex_lock(&reg_mu);
    if (reg_ndirs < TU_MAX_DIRS) {
        reg_dirs[reg_ndirs] = strdup(dir);
        if (reg_dirs[reg_ndirs] != NULL) reg_ndirs++;
    }
    pthread_mutex_unlock(&reg_mu);
    return dir;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = (type == FTW_DP) ? rmdir(path) : unlink(path);
    if (r != 0 && errno != ENOENT) return -1;
    return 0;
}

int tu_rm_rf(const char *path)
{
    /* FTW_PHYS: never follow symlinks; FTW_MOUNT: stay on this file system. */
    return nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

char *tu_path_join(const char *a, const char *b)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", a, b) < 0) FAIL("asprintf: out of memory");
    return p;
}

char *tu_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                free(buf);
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

void tu_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) FAIL("open %s: %s", path, strerror(errno));
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            FAIL("write %s: %s", path, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0) FAIL("close %s: %s", path, strerror(errno));
}

void tu_mkdir(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) FAIL("mkdir %s: %s", path, strerror(errno));
}

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */
/* ------------------------------------------------------------------------ */

static bool on_main_thread(void) { return (pid_t)syscall(SYS_gettid) == getpid(); }

pid_t tu_spawn_paused(void)
{
    /* PR_SET_PDEATHSIG fires when the forking *thread* ends: use it only
     * from the main thread. alarm bounds the child's life in any case. */
    bool pdeath = on_main_thread();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        if (pdeath) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(0);
        }
        alarm(120);
        for (;;) pause();
    }
    register_child(pid);
    return pid;
}

pid_t tu_spawn_fake_shim(const char *fifo_path, int status, size_t nbytes)
{
    if (nbytes > sizeof(int)) FAIL("fake shim: nbytes %zu > %zu", nbytes, sizeof(int));
    pid_t pid = fork();
    if (pid < 0) FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        /* Only async-signal-safe calls: the parent has threads. */
        alarm(60);
        int fd = open(fifo_path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) _exit(3);
        if (nbytes > 0) {
            ssize_t w = write(fd, &status, nbytes);
            if (w != (ssize_t)nbytes) _exit(4);
        }
        close(fd);
        _exit(0);
    }
    register_child(pid);
    return pid;
}

pid_t tu_spawn_self(const char *case_name, const char *const *extra_env)
{
    /* Build argv/envp before fork: the child only calls execve. */
    size_t nenv = 0, nextra = 0;
    while (environ[nenv] != NULL) nenv++;
    while (extra_env != NULL && extra_env[nextra] != NULL) nextra++;
    char **envp = calloc(nenv + nextra + 1, sizeof(char *));
    if (envp == NULL) FAIL("calloc: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < nextra; i++) envp[k++] = (char *)extra_env[i];
    for (size_t i = 0; i < nenv; i++) {
        /* Extra entries override inherited ones with the same name. */
        bool shadowed = false;
        for (size_t j = 0; j < nextra && !shadowed; j++) {
            const char *eq = strchr(extra_env[j], '=');
            size_t nl = eq ? (size_t)(eq - extra_env[j]) : strlen(extra_env[j]);
            shadowed = strncmp(environ[i], extra_env[j], nl) == 0 && environ[i][nl] == '=';
        }
        if (!shadowed) envp[k++] = environ[i];
    }
    envp[k] = NULL;
    char *argv[] = { (char *)"self", (char *)case_name, NULL };
    pid_t pid = fork();
    if (pid < 0) FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    free(envp);
    register_child(pid);
    return pid;
}

bool tu_reap(pid_t pid, int timeout_ms, int *status)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == 0) {
        int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pfd >= 0) {
            struct pollfd p = { .fd = pfd, .events = POLLIN };
            long long end = tu_now_ms() + timeout_ms;
            int left;
            while ((left = (int)(end - tu_now_ms())) > 0) {
                int pr = poll(&p, 1, left);
                if (pr > 0 || (pr < 0 && errno != EINTR)) break;
            }
            close(pfd);
            r = waitpid(pid, &st, WNOHANG);
        } else {
            /* No pidfd (old kernel): bounded polling. */
            long long end = tu_now_ms() + timeout_ms;
            while ((r = waitpid(pid, &st, WNOHANG)) == 0 && tu_now_ms() < end) tu_sleep_ms(2);
        }
    }
    if (r == pid) {
        forget_child(pid);
        if (status) *status = st;
        return true;
    }
    if (r < 0 && errno == ECHILD) {
        forget_child(pid);
        if (status) *status = 0;
        return true;
    }
    return false;
}

void tu_kill_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    if (!tu_reap(pid, 10000, NULL)) FAIL("child %d did not die after SIGKILL", (int)pid);
}

void tu_dead_pid(int *pid, unsigned long long *start_time)
{
    pid_t p = tu_spawn_paused();
    if (!tu_proc_start_time(p, start_time)) FAIL("no /proc/%d/stat", (int)p);
    tu_kill_reap(p);
    *pid = (int)p;
}

/* Reads /proc/<pid>/stat; returns the text after the ")" closing comm. */
static char *proc_stat_tail(pid_t pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0) return NULL;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp ? rp + 1 : NULL;
}

bool tu_proc_start_time(pid_t pid, unsigned long long *start_time)
{
    char buf[1024];
    char *p = proc_stat_tail(pid, buf, sizeof(buf));
    if (p == NULL) return false;
    /* After ")" comes field 3 (state); field 22 is the 20th from there. */
    char *save = NULL;
    char *tok = strtok_r(p, " ", &save);
    for (int field = 3; tok != NULL; field++, tok = strtok_r(NULL, " ", &save)) {
        if (field == 22) {
            *start_time = strtoull(tok, NULL, 10);
            return true;
        }
    }
    return false;
}

char tu_proc_state(pid_t pid)
{
    char buf[1024];
    char *p = proc_stat_tail(pid, buf, sizeof(buf));
    if (p == NULL) return 0;
    while (*p == ' ') p++;
    return *p;
}

bool tu_proc_running(pid_t pid)
{
    char s = tu_proc_state(pid);
    return s != 0 && s != 'Z' && s != 'X';
}

/* ------------------------------------------------------------------------ */
/* Exit FIFO convenience                                                     */
/* ------------------------------------------------------------------------ */

char *tu_arm_monitor(const char *root, const char *id, const pid_ppid_info_t *info,
                     const char *runtime)
{
    char *dir = tu_path_join(root, id);
    tu_mkdir(dir);
    errno = 0;
    char *fifo = container_exit_fifo_create(dir);
    if (fifo == NULL) FAIL("container_exit_fifo_create(%s): %s", dir, strerror(errno));
    errno = 0;
    int fd = container_exit_fifo_open(fifo);
    if (fd < 0) FAIL("container_exit_fifo_open(%s): %s", fifo, strerror(errno));
    errno = 0;
    if (container_supervisor_add_exit_monitor(fd, info, id, runtime) != 0)
        FAIL("container_supervisor_add_exit_monitor(%s): %s", id, strerror(errno));
    free(dir);
    return fifo;
}

/* ------------------------------------------------------------------------ */
/* JSON (yajl_tree) and garbage.json                                         */
/* ------------------------------------------------------------------------ */

yajl_val tu_json_parse(const char *text)
{
    char err[256];
    err[0] = '\0';
    yajl_val v = yajl_tree_parse(text, err, sizeof(err));
    if (v == NULL) fprintf(stderr, "[%s] JSON parse error: %s\n", current_case, err);
    return v;
}

yajl_val tu_json_get(yajl_val obj, const char *key)
{
    if (obj == NULL || !YAJL_IS_OBJECT(obj)) return NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0) return obj->u.object.values[i];
    return NULL;
}

long long tu_json_int_at(const char *file, int line, yajl_val obj, const char *key)
{
    yajl_val v = tu_json_get(obj, key);
    if (v == NULL || !YAJL_IS_INTEGER(v))
        tu_fail(file, line, "JSON key \"%s\" missing or not an integer", key);
    return YAJL_GET_INTEGER(v);
}

const char *tu_json_str(yajl_val obj, const char *key)
{
    yajl_val v = tu_json_get(obj, key);
    return (v != NULL && YAJL_IS_STRING(v)) ? YAJL_GET_STRING(v) : NULL;
}

yajl_val tu_garbage_load(const char *root_dir)
{
    char *path = tu_path_join(root_dir, "garbage.json");
    char *text = tu_read_file(path, NULL);
    free(path);
    if (text == NULL) return NULL;
    yajl_val v = tu_json_parse(text);
    free(text);
    return v;
}

yajl_val tu_garbage_list(yajl_val tree)
{
    yajl_val list = tu_json_get(tree, "GcContainers");
    return (list != NULL && YAJL_IS_ARRAY(list)) ? list : NULL;
}

yajl_val tu_garbage_entry(yajl_val tree, const char *id)
{
    yajl_val list = tu_garbage_list(tree);
    if (list == NULL) return NULL;
    for (size_t i = 0; i < list->u.array.len; i++) {
        const char *eid = tu_json_str(list->u.array.values[i], "id");
        if (eid != NULL && strcmp(eid, id) == 0) return list->u.array.values[i];
    }
    return NULL;
}

int tu_garbage_count(const char *root_dir)
{
    char *path = tu_path_join(root_dir, "garbage.json");
    char *text = tu_read_file(path, NULL);
    free(path);
    if (text == NULL) return 0;
    yajl_val v = tu_json_parse(text);
    free(text);
    if (v == NULL || !YAJL_IS_OBJECT(v)) {
        yajl_tree_free(v);
        return -1;
    }
    yajl_val list = tu_json_get(v, "GcContainers");
    int n;
    if (list == NULL)
        n = 0;
    else if (YAJL_IS_ARRAY(list))
        n = (int)list->u.array.len;
    else
        n = -1;
    yajl_tree_free(v);
    return n;
}

int tu_garbage_count_id(const char *root_dir, const char *id)
{
    yajl_val v = tu_garbage_load(root_dir);
    yajl_val list = tu_garbage_list(v);
    int n = 0;
    for (size_t i = 0; list != NULL && i < list->u.array.len; i++) {
        const char *eid = tu_json_str(list->u.array.values[i], "id");
        if (eid != NULL && strcmp(eid, id) == 0) n++;
    }
    yajl_tree_free(v);
    return n;
}

bool tu_is_mounted(const char *path)
{
    char *text = tu_read_file("/proc/self/mountinfo", NULL);
    ASSERT(text != NULL);
    bool found = false;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
        char mp[PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp(mp, path) == 0) found = true;
    }
    free(text);
    return found;
}

bool tu_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

pid_ppid_info_t tu_dead_info(void)
{
    pid_ppid_info_t info;
    memset(&info, 0, sizeof(info));
    tu_dead_pid(&info.pid, &info.start_time);
    tu_dead_pid(&info.ppid, &info.pstart_time);
    return info;
}
