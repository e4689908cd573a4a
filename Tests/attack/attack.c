/*
 * Reviewer's attacks on the 1.1 work: OOM watches, the resource ledger, the
 * engine lifecycle, the GC split. Real FIFOs, fake shims (testutil), real v1
 * memory cgroups and real OOM kills (a forked child over its cgroup's limit).
 *
 * Cases whose comment starts with DEFECT fail today: each names the defect
 * and the expected behaviour. The other cases are attacks that held.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define WAIT_MS 10000
#define MEMCG "/sys/fs/cgroup/memory"

/* ---- hooks with gates ----------------------------------------------------- */

static tu_events *ev_stop, *ev_gcdone, *ev_oom;
static atomic_int clean_calls, gcdone_calls, gcdone_returned, alive_calls;
static atomic_int clean_fail_calls; /* clean_resource returns -1 for calls <= this */

/* A gate held by a hook: `call` is the 1-based call that blocks (0: none). */
typedef struct {
    tu_gate g;
    int call;
    atomic_bool entered;
} hook_gate;
static hook_gate gate_clean, gate_gcdone, gate_alive, gate_stopped;

static void hold(hook_gate *h, int n)
{
    if (h->call == 0 || n != h->call) return;
    atomic_store(&h->entered, true);
    if (!tu_gate_wait(&h->g, WAIT_MS)) tu_log("hook gate never opened (call %d)", n);
}

static bool entered(void *p) { return atomic_load(&((hook_gate *)p)->entered); }

static void gate_arm(hook_gate *h, int call)
{
    tu_gate_init(&h->g);
    h->call = call;
    atomic_store(&h->entered, false);
}

static int h_alive(void *ctx, const char *id, const char *rt, int pid, unsigned long long st)
{
    (void)ctx; (void)id; (void)rt; (void)pid; (void)st;
    hold(&gate_alive, atomic_fetch_add(&alive_calls, 1) + 1);
    return 0;
}

static tu_gate hang_gate;
static const char *hang_prefix;
static atomic_int hang_entered;
static int h_clean(void *ctx, const char *id, const char *rt, int pid)
{
    (void)ctx; (void)id; (void)rt; (void)pid;
    if (hang_prefix && strncmp(id, hang_prefix, strlen(hang_prefix)) == 0) {
        atomic_fetch_add(&hang_entered, 1);
        tu_gate_wait(&hang_gate, 20000); /* a hung step: an engine hook stuck on a busy resource */
        return 0;
    }
    int n = atomic_fetch_add(&clean_calls, 1) + 1;
    hold(&gate_clean, n);
    return n <= atomic_load(&clean_fail_calls) ? -1 : 0;
}

static void (*stopped_extra)(const char *id);

static void h_stopped(void *ctx, const char *id, int pid, int code)
{
    (void)ctx;
    hold(&gate_stopped, tu_events_total(ev_stop) + 1);
    if (stopped_extra) stopped_extra(id);
    tu_events_record(ev_stop, id, pid, code);
}

static atomic_int gcdone_self_true, gcdone_self_slow;
static atomic_bool gcdone_check_self;
static void h_gcdone(void *ctx, const char *id)
{
    (void)ctx;
    hold(&gate_gcdone, atomic_fetch_add(&gcdone_calls, 1) + 1);
    if (atomic_load(&gcdone_check_self)) {
        long long t0 = tu_now_ms();
        if (gc_is_gc_progress(id)) atomic_fetch_add(&gcdone_self_true, 1);
        if (tu_now_ms() - t0 >= 50) atomic_fetch_add(&gcdone_self_slow, 1);
    }
    tu_events_record(ev_gcdone, id, 0, 0);
    atomic_fetch_add(&gcdone_returned, 1); /* last: "gc_done has returned" */
}

/* container_oom recorded with the order relative to container_stopped. */
static atomic_int oom_before_stop, oom_not_growing;
static atomic_ullong oom_last;
static void h_oom(void *ctx, const char *id, unsigned long long kills)
{
    (void)ctx;
    if (tu_events_count(ev_stop, id) == 0) atomic_fetch_add(&oom_before_stop, 1);
    if (kills <= atomic_exchange(&oom_last, kills)) atomic_fetch_add(&oom_not_growing, 1);
    tu_events_record(ev_oom, id, 0, (int)kills);
}

#define LOGS 512
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_ring[LOGS][400];
static int log_n;

static atomic_int log_sd_state; /* 1 armed, 2 calling, 3 returned */
static int log_sd_rc, log_sd_errno;
static void h_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (atomic_load(&log_sd_state) == 1 && strstr(msg, "atk-log-trigger")) {
        atomic_store(&log_sd_state, 2);
        errno = 0;
        log_sd_rc = supervisor_shutdown();
        log_sd_errno = errno;
        atomic_store(&log_sd_state, 3);
    }
    pthread_mutex_lock(&log_mu);
    snprintf(log_ring[log_n % LOGS], sizeof log_ring[0], "%d %s", level, msg);
    log_n++;
    pthread_mutex_unlock(&log_mu);
    if (level <= 4 || getenv("ATK_VERBOSE")) tu_log("lib log %d: %s", level, msg);
}

static int log_matches(const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&log_mu);
    for (int i = log_n > LOGS ? log_n - LOGS : 0; i < log_n; i++)
        if (strstr(log_ring[i % LOGS], needle)) n++;
    pthread_mutex_unlock(&log_mu);
    return n;
}

static void install(bool with_alive, bool with_clean)
{
    if (!ev_stop) {
        ev_stop = tu_events_new();
        ev_gcdone = tu_events_new();
        ev_oom = tu_events_new();
    }
    if (getenv("ATK_VERBOSE")) ASSERT_OK(supervisor_set_option("log_level", "debug"));
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof ops);
    ops.struct_size = sizeof ops;
    ops.process_alive = with_alive ? h_alive : NULL;
    ops.clean_resource = with_clean ? h_clean : NULL;
    ops.container_stopped = h_stopped;
    ops.gc_done = h_gcdone;
    ops.container_oom = h_oom;
    ops.log = h_log;
    ASSERT_OK(supervisor_set_engine_ops(&ops));
}

static char *setup(const char *tag, bool with_alive, bool with_clean)
{
    char *root = tu_setup_root(tag);
    install(with_alive, with_clean);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    return root;
}

/* ---- process counters ----------------------------------------------------- */

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    ASSERT(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - (strcmp(path, "/proc/self/fd") == 0 ? 1 : 0); /* the DIR's own fd */
}
static int fd_count(void) { return count_dir("/proc/self/fd"); }
static int thread_count(void) { return count_dir("/proc/self/task"); }

static void dump_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[300], t[300];
        snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(p, t, sizeof t - 1);
        t[n > 0 ? n : 0] = 0;
        tu_log("fd %s -> %s", e->d_name, t);
    }
    if (d) closedir(d);
}

/* ---- v1 memory cgroups and real OOM kills --------------------------------- */

static void require_memcg(void)
{
    if (geteuid() != 0 || access(MEMCG "/cgroup.procs", W_OK) != 0) {
        fprintf(stderr, "[%s] SKIP: needs root and a v1 memory hierarchy at %s\n", tu_case_name(), MEMCG);
        _exit(77);
    }
}

static void write_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ASSERT_MSG(fd >= 0, "open %s: %s", path, strerror(errno));
    ASSERT_MSG(write(fd, s, strlen(s)) == (ssize_t)strlen(s), "write %s: %s", path, strerror(errno));
    close(fd);
}

static char *memcg_path(const char *rel, const char *file)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, MEMCG "/%s%s%s", rel, file ? "/" : "", file ? file : "");
    return strdup(buf);
}

/* mkdir of a memory cgroup with an 8 MiB limit (memsw too: no swap escape). */
static void memcg_make(const char *rel)
{
    char *dir = memcg_path(rel, NULL);
    ASSERT_MSG(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", dir, strerror(errno));
    char *lim = memcg_path(rel, "memory.limit_in_bytes");
    write_str(lim, "8388608");
    char *sw = memcg_path(rel, "memory.memsw.limit_in_bytes");
    if (access(sw, W_OK) == 0) write_str(sw, "8388608");
    free(dir); free(lim); free(sw);
}

static void memcg_remove(const char *rel)
{
    char *dir = memcg_path(rel, NULL);
    rmdir(dir);
    free(dir);
}

static bool memcg_exists(const char *rel)
{
    char *dir = memcg_path(rel, NULL);
    bool r = access(dir, F_OK) == 0;
    free(dir);
    return r;
}

static bool memcg_gone(void *rel) { return !memcg_exists((const char *)rel); }

static long long memcg_oom_kill(const char *rel)
{
    char *f = memcg_path(rel, "memory.oom_control");
    char *text = tu_read_file(f, NULL);
    free(f);
    if (!text) return -1;
    char *p = strstr(text, "oom_kill ");
    long long v = p ? atoll(p + 9) : -1;
    free(text);
    return v;
}

/* Forks a child into cgroup rel that allocates past the limit; returns once
 * it was killed. true when it died of SIGKILL (the OOM killer). */
static bool oom_kill_once(const char *rel)
{
    char *procs = memcg_path(rel, "cgroup.procs");
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        alarm(30);
        int fd = open(procs, O_WRONLY);
        if (fd < 0) _exit(3);
        if (write(fd, "0", 1) != 1) _exit(4);
        close(fd);
        for (;;) {
            char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) _exit(5);
            memset(p, 1, 1 << 20);
        }
    }
    free(procs);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return false;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/* ---- small helpers -------------------------------------------------------- */

static char *make_dir_with_file(const char *base, const char *name)
{
    char *d = tu_path_join(base, name);
    tu_mkdir(d);
    char *f = tu_path_join(d, "data");
    tu_write_file(f, "x", 1);
    free(f);
    return d;
}

static bool gone(void *path) { return !tu_exists((const char *)path); }

/* Arms id (gone pid), tracks value (kind 0: nothing) and delivers exit
 * `code` through a fake shim. */
static pid_t arm_track_exit(const char *root, const char *id, int code, int kind, const char *value)
{
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, id, &info, "runc");
    if (kind) ASSERT_OK(supervisor_track_resource(id, (supervisor_resource_kind_t)kind, value));
    pid_t shim = tu_spawn_fake_shim(fifo, code, sizeof(int));
    free(fifo);
    return shim;
}

static pid_t arm_and_exit(const char *root, const char *id, int code)
{
    return arm_track_exit(root, id, code, 0, NULL);
}

static bool status_lists_gc(const char *id)
{
    char *text = supervisor_status_json();
    ASSERT(text != NULL);
    yajl_val v = tu_json_parse(text);
    free(text);
    bool found = false;
    yajl_val gc = v ? tu_json_get(v, "gc") : NULL;
    for (size_t i = 0; gc && YAJL_IS_ARRAY(gc) && i < gc->u.array.len; i++) {
        const char *gid = tu_json_str(gc->u.array.values[i], "id");
        if (gid && strcmp(gid, id) == 0) found = true;
    }
    if (v) yajl_tree_free(v);
    return found;
}

typedef struct { const char *id; } id_arg;
static bool not_in_gc(void *p) { return !gc_is_gc_progress(((id_arg *)p)->id); }

/* ========================================================================== */

/* DEFECT (GC / ledger): a resource tracked while its id's gc_done runs is
 * handed to the GC list with runtime "" (Containers.swift trackResource,
 * route .gc -> releaseLate(id:, runtime: "")). A RUNTIME resource is then
 * "blocked: no runtime named" on every attempt, forever, and the entry is
 * written to garbage.json with "runtime":"" (refused by the next engine's
 * loader). Meanwhile trackResource waited ~100 ms in GarbageCollector.contains
 * while holding the ledger lock (every exit's handling waits too).
 * Expected: released with the entry's runtime ("runc": delete of an unknown
 * container is done), a second gc_done, nothing left in GC. */
TEST(gc_track_while_gc_done_runs)
{
    char *root = tu_setup_root("atk-gctrack");
    gate_arm(&gate_gcdone, 1);
    install(false, false);
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    char id[64];
    snprintf(id, sizeof id, "atk-gctrack-%d", (int)getpid());
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container(id, "runc", &info));
    ASSERT_MSG(tu_poll_until(entered, &gate_gcdone, WAIT_MS), "gc_done never called");
    char *rtroot = tu_mkdtemp("atk-gctrack-rt");
    long long t0 = tu_now_ms();
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_RUNTIME, rtroot));
    long long took = tu_now_ms() - t0;
    tu_log("supervisor_track_resource took %lld ms (ledger lock held meanwhile)", took);
    tu_gate_open(&gate_gcdone.g);
    id_arg a = { id };
    bool left = tu_poll_until(not_in_gc, &a, 3000);
    if (!left || tu_garbage_count_id(root, id) != 0) {
        char *st = supervisor_status_json();
        tu_log("status: %s", st);
        free(st);
        yajl_val g = tu_garbage_load(root);
        yajl_val e = g ? tu_garbage_entry(g, id) : NULL;
        const char *rt = e ? tu_json_str(e, "runtime") : NULL;
        FAIL("DEFECT: RUNTIME %s tracked while gc_done(%s) ran never released: in GC %d, "
             "garbage.json entry runtime \"%s\" (want \"runc\" or no entry)",
             rtroot, id, (int)gc_is_gc_progress(id), rt ? rt : "(none)");
    }
    ASSERT_MSG(took < 50, "DEFECT: supervisor_track_resource blocked %lld ms under the ledger lock", took);
    ASSERT_OK(supervisor_shutdown());
}

/* DEFECT (GC): gc_is_gc_progress(id) reads false while the gc_done of a
 * re-added entry of the same id has not run. `releasing` in
 * GarbageCollector is keyed by id: the delivery of the first removal
 * (queued behind the second attempt) sets releasing[id] = nil after its
 * gc_done, erasing the marker the second removal set; until the second
 * removal is durable and delivered the id reads "not in GC". The header:
 * "true ... until its removal is durable and its gc_done hook has returned".
 * Persist writes slowed to 150 ms (failpoint) to make the window visible
 * (40 ms was missed now and then on a loaded 2-core machine). */
TEST(gc_readd_state_during_delivery)
{
    setenv("SUPERVISOR_FAILPOINTS", "gc.persist.fsync=delay:150", 1);
    tu_setup_root("atk-readd");
    gate_arm(&gate_clean, 2);
    install(false, true);
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    char id[64];
    snprintf(id, sizeof id, "atk-readd-%d", (int)getpid());
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container(id, "runc", &info));
    /* The first entry released (removed from the list, removal being written). */
    long long deadline = tu_now_ms() + WAIT_MS;
    while ((atomic_load(&clean_calls) < 1 || status_lists_gc(id)) && tu_now_ms() < deadline) {}
    if (atomic_load(&gcdone_returned) != 0) {
        /* The attempt ran before the add's own write took its snapshot: the
         * removal rode in that write (group commit), so there is no window to
         * test this time. A precondition, not a result: skipped (77). */
        tu_log("race window missed: the first removal was durable with the add; skipped");
        _exit(77);
    }
    ASSERT_OK(gc_add_container(id, "runc", &info));
    ASSERT(gc_is_gc_progress(id));
    ASSERT_MSG(tu_poll_until(entered, &gate_clean, WAIT_MS), "second attempt never ran");
    tu_gate_open(&gate_clean.g);
    int violations = 0, polls = 0;
    deadline = tu_now_ms() + 2000;
    while (atomic_load(&gcdone_returned) < 2 && tu_now_ms() < deadline) {
        bool in_gc = gc_is_gc_progress(id);
        int done = atomic_load(&gcdone_returned);
        polls++;
        if (!in_gc && done < 2) violations++;
    }
    ASSERT_MSG(tu_events_wait(ev_gcdone, id, 2, WAIT_MS), "second gc_done never came");
    ASSERT_MSG(violations == 0,
               "DEFECT: gc_is_gc_progress(%s) false in %d of %d polls before the second gc_done returned",
               id, violations, polls);
    ASSERT_OK(supervisor_shutdown());
}

/* DEFECT (ledger/lifecycle): supervisor_shutdown drops the resources tracked
 * for ARMED containers (Lifecycle.swift shutdown: `l = ResourceLedger()`),
 * logging them as "tracked for containers never armed". After a restart the
 * engine re-arms the container (as the header tells it to) and its exit
 * releases nothing: the tracked directory leaks. Expected: kept for the
 * re-arm (or documented as dropped, with a true log line). */
TEST(shutdown_keeps_armed_resources)
{
    char *root = setup("atk-sdkeep", false, false);
    char id[64];
    snprintf(id, sizeof id, "atk-sdkeep-%d", (int)getpid());
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, id, &info, "runc");
    char *base = tu_mkdtemp("atk-sdkeep-res");
    char *dir = make_dir_with_file(base, "scratch");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, dir));
    ASSERT_EQ(supervisor_container_state(id), SUPERVISOR_STATE_RUNNING);
    ASSERT_OK(supervisor_shutdown());
    int mislabel = log_matches("never armed");
    ASSERT_OK(new_supervisor());
    int fd = container_exit_fifo_open(fifo);
    ASSERT(fd >= 0);
    ASSERT_OK(container_supervisor_add_exit_monitor(fd, &info, id, "runc"));
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    ASSERT(tu_events_wait(ev_stop, id, 1, WAIT_MS));
    int st;
    ASSERT(tu_reap(shim, WAIT_MS, &st));
    bool released = tu_poll_until(gone, dir, 2000);
    ASSERT_MSG(released, "DEFECT: %s tracked for armed %s was dropped by supervisor_shutdown "
               "(log called it 'never armed': %d lines); the exit after the re-arm left it", dir, id, mislabel);
    ASSERT_OK(supervisor_shutdown());
}

/* DEFECT (OOM): an OOM kill counted while the exit of its container is being
 * handled during a shutdown is never reported: ExitSupervisor.stop() closed
 * the OOM watcher and parts.supervisor is nil, so handleExit's final
 * reportOOM (Containers.swift: `guard let supervisor`) reads nothing, and
 * container_stopped comes without container_oom. SPEC 3: "When the exit is
 * handled the counter is read once more before the cleaner removes the
 * cgroup; a growth is reported before container_stopped." The exit is held
 * in process_alive while shutdown stops the epoll thread. */
static void *shutdown_thread(void *p)
{
    *(int *)p = supervisor_shutdown() == 0 ? 1 : -errno;
    return NULL;
}

/* No thread of this process is named supv-epoll. */
static bool no_epoll_thread(void *arg)
{
    (void)arg;
    DIR *d = opendir("/proc/self/task");
    if (!d) return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[300], comm[64] = "";
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(p, "re");
        if (f) {
            if (fgets(comm, sizeof comm, f) && strncmp(comm, "supv-epoll", 10) == 0) found = true;
            fclose(f);
        }
    }
    closedir(d);
    return !found;
}

TEST(oom_reported_when_shutdown_races_exit)
{
    require_memcg();
    char *root = tu_setup_root("atk-oomsd");
    gate_arm(&gate_alive, 1);
    install(true, false);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    char id[64], rel[64];
    snprintf(id, sizeof id, "atk-oomsd-%d", (int)getpid());
    snprintf(rel, sizeof rel, "sup-atk-oomsd-%d", (int)getpid());
    memcg_make(rel);
    pid_t shim = arm_track_exit(root, id, 137, SUPERVISOR_RES_CGROUP, rel);
    ASSERT_MSG(tu_poll_until(entered, &gate_alive, WAIT_MS), "exit never handled");
    int result = 0;
    pthread_t t;
    pthread_create(&t, NULL, shutdown_thread, &result);
    /* The shutdown has stopped the epoll thread once no "supv-epoll" task is
     * left (the held exit keeps the pool draining). */
    ASSERT_MSG(tu_poll_until(no_epoll_thread, NULL, WAIT_MS), "the epoll thread did not stop");
    bool killed = oom_kill_once(rel);
    long long kills = memcg_oom_kill(rel);
    tu_gate_open(&gate_alive.g);
    pthread_join(t, NULL);
    ASSERT_EQ(result, 1);
    if (!killed || kills < 1) { memcg_remove(rel); FAIL("could not OOM-kill in %s (kills %lld)", rel, kills); }
    ASSERT(tu_events_wait(ev_stop, id, 1, WAIT_MS));
    int st;
    tu_reap(shim, WAIT_MS, &st);
    bool cg_gone = !memcg_exists(rel);
    memcg_remove(rel);
    ASSERT_MSG(cg_gone, "cgroup %s not removed by the cleaner", rel);
    ASSERT_MSG(tu_events_count(ev_oom, id) >= 1 && atomic_load(&oom_before_stop) >= 1,
               "DEFECT: container_stopped(%s) without container_oom (cgroup oom_kill %lld) when the exit "
               "was handled during supervisor_shutdown", id, kills);
}

/* Held: 300 arm/exit cycles with a watched v1 memory cgroup each (eventfd
 * per watch): no fd left behind, running or after shutdown. */
TEST(oom_watch_fd_cycles)
{
    require_memcg();
    int fds0 = fd_count();
    char *root = setup("atk-oomfd", false, false);
    const int cycles = 300;
    int base = -1;
    for (int i = 0; i < cycles; i++) {
        char id[64], rel[64];
        if (i % 2 == 0) snprintf(id, sizeof id, "atk-oomfd-%d-u%d", (int)getpid(), i);
        else snprintf(id, sizeof id, "atk-oomfd-%d-r%d", (int)getpid(), i % 5);
        snprintf(rel, sizeof rel, "sup-atk-oomfd-%d-%d", (int)getpid(), i);
        memcg_make(rel);
        int before = tu_events_count(ev_stop, id);
        if (i % 2 == 0) ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_CGROUP, rel));
        pid_ppid_info_t info = tu_dead_info();
        char *fifo = tu_arm_monitor(root, id, &info, "runc");
        if (i % 2 == 1) ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_CGROUP, rel));
        pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
        free(fifo);
        ASSERT_MSG(tu_events_wait(ev_stop, id, before + 1, WAIT_MS), "cycle %d: no stop", i);
        int st;
        ASSERT(tu_reap(shim, WAIT_MS, &st));
        if (!tu_poll_until(memcg_gone, rel, WAIT_MS)) { memcg_remove(rel); FAIL("cycle %d: %s left", i, rel); }
        if (i == 9) base = fd_count();
        if (i > 9 && i % 50 == 0 && fd_count() > base + 2) { dump_fds(); FAIL("cycle %d: %d fds, %d at cycle 9", i, fd_count(), base); }
    }
    int running = fd_count();
    ASSERT_OK(supervisor_shutdown());
    int after = fd_count();
    tu_log("%d cycles: fds %d before start, %d at cycle 9, %d at the end, %d after shutdown", cycles, fds0, base, running, after);
    ASSERT_MSG(running <= base + 2, "fd growth over %d cycles: %d -> %d", cycles, base, running);
    if (after > fds0) { dump_fds(); FAIL("fds after shutdown %d > %d before start", after, fds0); }
}

/* Held: shutdown -> start -> shutdown 50 times with work each time (armed
 * exit with a watched cgroup, a GC entry to gc_done): fds and threads back
 * to the same baseline. */
TEST(restart_cycles_baseline)
{
    require_memcg();
    char *root = tu_setup_root("atk-restart");
    install(false, false);
    int fds1 = -1, thr1 = -1;
    for (int i = 0; i < 50; i++) {
        ASSERT_OK(new_supervisor());
        ASSERT_OK(new_gchandler());
        ASSERT_OK(start_gchandler());
        char id[64], gid[64], rel[64];
        snprintf(id, sizeof id, "atk-restart-%d-%d", (int)getpid(), i);
        snprintf(gid, sizeof gid, "atk-restart-gc-%d-%d", (int)getpid(), i);
        snprintf(rel, sizeof rel, "sup-atk-restart-%d-%d", (int)getpid(), i);
        memcg_make(rel);
        pid_t shim = arm_track_exit(root, id, 3, SUPERVISOR_RES_CGROUP, rel);
        pid_ppid_info_t info = tu_dead_info();
        ASSERT_OK(gc_add_container(gid, "runc", &info));
        ASSERT_MSG(tu_events_wait(ev_stop, id, 1, WAIT_MS), "cycle %d: no stop", i);
        ASSERT_MSG(tu_events_wait(ev_gcdone, gid, 1, WAIT_MS), "cycle %d: no gc_done", i);
        int st;
        ASSERT(tu_reap(shim, WAIT_MS, &st));
        if (!tu_poll_until(memcg_gone, rel, WAIT_MS)) { memcg_remove(rel); FAIL("cycle %d: %s left", i, rel); }
        ASSERT_OK(supervisor_shutdown());
        if (i == 0) { fds1 = fd_count(); thr1 = thread_count(); }
    }
    int fds = fd_count(), thr = thread_count();
    tu_log("after 50 restarts: fds %d (first %d), threads %d (first %d)", fds, fds1, thr, thr1);
    if (fds != fds1) dump_fds();
    ASSERT_EQ(fds, fds1);
    ASSERT_EQ(thr, thr1);
}

/* Held: two threads call supervisor_shutdown at once on a busy engine. */
static pthread_barrier_t bar;
static void *shutdown_at_barrier(void *p)
{
    pthread_barrier_wait(&bar);
    *(int *)p = supervisor_shutdown() == 0 ? 1 : -errno;
    return NULL;
}

TEST(concurrent_shutdown)
{
    char *root = setup("atk-2sd", false, false);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 5; i++) {
            char id[64];
            snprintf(id, sizeof id, "atk-2sd-%d-%d-%d", (int)getpid(), round, i);
            pid_ppid_info_t info = tu_dead_info();
            free(tu_arm_monitor(root, id, &info, "runc"));
            char gid[80];
            snprintf(gid, sizeof gid, "%s-gc", id);
            ASSERT_OK(gc_add_container(gid, "runc", &info));
        }
        int r[2] = { 0, 0 };
        pthread_t t[2];
        pthread_barrier_init(&bar, NULL, 2);
        for (int k = 0; k < 2; k++) pthread_create(&t[k], NULL, shutdown_at_barrier, &r[k]);
        for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
        pthread_barrier_destroy(&bar);
        ASSERT_MSG(r[0] == 1 && r[1] == 1, "round %d: shutdowns returned %d, %d", round, r[0], r[1]);
        ASSERT_OK(new_supervisor());
        ASSERT_OK(start_gchandler());
    }
    ASSERT_OK(supervisor_shutdown());
}

/* Held: container_stopped, run while a shutdown drains, calls the API:
 * no deadlock, EDEADLK for supervisor_shutdown, and a gc_add_container that
 * returned 0 is in garbage.json afterwards. */
static int r_newsup = 99, e_newsup, r_startgc = 99, e_startgc, r_add = 99, e_add, r_sd = 99, e_sd, r_newgc = 99, e_newgc;
static char g_add_id[64];
static void api_from_hook(const char *id)
{
    (void)id;
    errno = 0; r_newsup = new_supervisor(); e_newsup = errno;
    errno = 0; r_startgc = start_gchandler(); e_startgc = errno;
    pid_ppid_info_t info = { 0, 0, 0, 0 };
    errno = 0; r_add = gc_add_container(g_add_id, "runc", &info); e_add = errno;
    errno = 0; r_newgc = new_gchandler(); e_newgc = errno;
    errno = 0; r_sd = supervisor_shutdown(); e_sd = errno;
    free(supervisor_status_json());
}

TEST(hooks_call_api_during_shutdown)
{
    char *root = tu_setup_root("atk-hooksd");
    gate_arm(&gate_alive, 1);
    install(true, false);
    stopped_extra = api_from_hook;
    ASSERT_OK(new_supervisor());
    char id[64];
    snprintf(id, sizeof id, "atk-hooksd-%d", (int)getpid());
    snprintf(g_add_id, sizeof g_add_id, "atk-hooksd-gc-%d", (int)getpid());
    pid_t shim = arm_and_exit(root, id, 0);
    ASSERT(tu_poll_until(entered, &gate_alive, WAIT_MS));
    int result = 0;
    pthread_t t;
    pthread_create(&t, NULL, shutdown_thread, &result);
    long long deadline = tu_now_ms() + WAIT_MS;
    while (supervisor_container_state(id) != SUPERVISOR_STATE_NONE && tu_now_ms() < deadline) tu_sleep_ms(1);
    tu_gate_open(&gate_alive.g);
    long long t0 = tu_now_ms();
    pthread_join(t, NULL);
    tu_log("shutdown returned %d after the gate (%lld ms); hook: new_supervisor %d/%d start_gchandler %d/%d "
           "gc_add %d/%d new_gchandler %d/%d shutdown %d/%d", result, tu_now_ms() - t0, r_newsup, e_newsup,
           r_startgc, e_startgc, r_add, e_add, r_newgc, e_newgc, r_sd, e_sd);
    ASSERT_EQ(result, 1);
    ASSERT(tu_events_count(ev_stop, id) == 1);
    ASSERT_MSG(r_sd == -1 && e_sd == EDEADLK, "supervisor_shutdown from a hook: %d/%d", r_sd, e_sd);
    ASSERT_MSG(r_newsup == 0 || e_newsup == ESHUTDOWN, "new_supervisor from a draining hook: %d/%d", r_newsup, e_newsup);
    if (r_add == 0) ASSERT_MSG(tu_garbage_count_id(root, g_add_id) == 1, "gc_add_container returned 0 but not durable");
    int st;
    tu_reap(shim, WAIT_MS, &st);
    stopped_extra = NULL;
    /* The engine runs again afterwards. */
    ASSERT_OK(new_supervisor());
    ASSERT_OK(supervisor_shutdown());
}

/* Held: set_option("root_dir") while new_gchandler loads a 60,000-entry
 * garbage.json: 0 only before the load began, EBUSY from then on, never a
 * crash; the list loaded is complete. */
static void *load_thread(void *p)
{
    __atomic_store_n((int *)p, new_gchandler() == 0 ? 1 : -errno, __ATOMIC_RELEASE);
    return NULL;
}

TEST(root_dir_busy_while_loading)
{
    char *root = tu_setup_root("atk-busy");
    install(false, false);
    const int n = 60000;
    size_t cap = (size_t)n * 120 + 64, len = 0;
    char *buf = malloc(cap);
    ASSERT(buf);
    len += (size_t)snprintf(buf + len, cap - len, "{\"GcContainers\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s{\"id\":\"atk-busy-%d\",\"runtime\":\"runc\",\"pid\":0,"
                                "\"StartTime\":0,\"ppid\":0,\"PStartTime\":0}", i ? "," : "", i);
    len += (size_t)snprintf(buf + len, cap - len, "]}");
    char *g = tu_path_join(root, "garbage.json");
    tu_write_file(g, buf, len);
    free(buf);
    char *other = tu_mkdtemp("atk-busy-other");
    int result = 0, ok = 0, busy = 0, other_err = 0, ok_after_busy = 0;
    pthread_t t;
    pthread_create(&t, NULL, load_thread, &result);
    while (__atomic_load_n(&result, __ATOMIC_ACQUIRE) == 0) {
        errno = 0;
        int r = supervisor_set_option("root_dir", root);
        if (r == 0) { ok++; if (busy) ok_after_busy++; }
        else if (errno == EBUSY) busy++;
        else other_err++;
    }
    pthread_join(t, NULL);
    tu_log("during the load: %d ok, %d EBUSY, %d other", ok, busy, other_err);
    ASSERT_EQ(result, 1);
    ASSERT_EQ(other_err, 0);
    ASSERT_EQ(ok_after_busy, 0);
    ASSERT_FAILS(supervisor_set_option("root_dir", other), EBUSY);
    char *st = supervisor_status_json();
    yajl_val v = tu_json_parse(st);
    free(st);
    const char *rd = tu_json_str(v, "root_dir");
    yajl_val gcl = tu_json_get(v, "gc");
    size_t listed = gcl && YAJL_IS_ARRAY(gcl) ? gcl->u.array.len : 0;
    tu_log("root_dir %s, %zu entries", rd ? rd : "?", listed);
    ASSERT_STREQ(rd, root);
    ASSERT_EQ(listed, (size_t)n);
    ASSERT_MSG(busy > 0, "the load was never seen in progress (%d ok)", ok);
    yajl_tree_free(v);
    ASSERT_OK(supervisor_shutdown());
    ASSERT_OK(supervisor_set_option("root_dir", other));
}

/* Held: 1024 never-armed ids, the 1025th ENOSPC; arming some frees room;
 * 64 resources per id, the 65th ENOSPC; armed ids' resources released at
 * their exits; shutdown discards the rest with a warning. */
TEST(never_armed_limit_then_arm)
{
    char *root = setup("atk-unarmed", false, false);
    char *base = tu_mkdtemp("atk-unarmed-res");
    char id[96];
    for (int i = 0; i < 1024; i++) {
        snprintf(id, sizeof id, "atk-ua-%d-%d", (int)getpid(), i);
        char val[128];
        snprintf(val, sizeof val, "%s/never-%d", base, i);
        ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, val));
    }
    snprintf(id, sizeof id, "atk-ua-%d-x", (int)getpid());
    ASSERT_FAILS(supervisor_track_resource(id, SUPERVISOR_RES_PATH, "/tmp/atk-never"), ENOSPC);
    char *dirs[10];
    pid_t shims[10];
    for (int i = 0; i < 10; i++) {
        char rid[96], name[32];
        snprintf(rid, sizeof rid, "atk-ua-%d-%d", (int)getpid(), i);
        snprintf(name, sizeof name, "never-%d", i);
        dirs[i] = make_dir_with_file(base, name);
        shims[i] = arm_and_exit(root, rid, 0);
    }
    for (int i = 0; i < 10; i++) {
        char rid[96];
        snprintf(rid, sizeof rid, "atk-ua-%d-%d", (int)getpid(), i);
        ASSERT(tu_events_wait(ev_stop, rid, 1, WAIT_MS));
        ASSERT_MSG(tu_poll_until(gone, dirs[i], WAIT_MS), "%s kept for %s not released at its exit", dirs[i], rid);
        int st;
        tu_reap(shims[i], WAIT_MS, &st);
    }
    /* Ten ids armed and exited: room for ten new never-armed ids. */
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "atk-ua-%d-new%d", (int)getpid(), i);
        ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, "/tmp/atk-never-new"));
    }
    ASSERT_FAILS(supervisor_track_resource("atk-ua-one-more", SUPERVISOR_RES_PATH, "/tmp/atk-never"), ENOSPC);
    snprintf(id, sizeof id, "atk-ua-%d-20", (int)getpid());
    for (int k = 1; k < 64; k++) ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, "/tmp/atk-never-k"));
    ASSERT_FAILS(supervisor_track_resource(id, SUPERVISOR_RES_PATH, "/tmp/atk-never-k"), ENOSPC);
    ASSERT_OK(supervisor_shutdown());
    ASSERT_MSG(log_matches("discards") >= 1, "no warning for the discarded resources");
    /* After shutdown the ledger is empty again. */
    ASSERT_OK(supervisor_track_resource("atk-ua-one-more", SUPERVISOR_RES_PATH, "/tmp/atk-never"));
    ASSERT_OK(supervisor_shutdown());
}

/* Held: resources tracked while the exit is being handled (clean hook held)
 * join that cleanup: both released, the clean hook runs once, one stop; and
 * when that cleanup fails, the late one rides in the GC entry. */
TEST(track_during_exit_released_once)
{
    char *root = tu_setup_root("atk-tdex");
    gate_arm(&gate_clean, 1);
    install(false, true);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    char *base = tu_mkdtemp("atk-tdex-res");
    char id[64];
    snprintf(id, sizeof id, "atk-tdex-%d", (int)getpid());
    char *d1 = make_dir_with_file(base, "d1"), *d2 = make_dir_with_file(base, "d2"), *d3 = make_dir_with_file(base, "d3");
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, id, &info, "runc");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, d1));
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    ASSERT(tu_poll_until(entered, &gate_clean, WAIT_MS));
    ASSERT_EQ(supervisor_container_state(id), SUPERVISOR_STATE_STOPPING);
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, d2));
    tu_gate_open(&gate_clean.g);
    ASSERT(tu_events_wait(ev_stop, id, 1, WAIT_MS));
    ASSERT_MSG(tu_poll_until(gone, d1, WAIT_MS) && tu_poll_until(gone, d2, WAIT_MS), "d1/d2 left");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, d3));
    ASSERT_MSG(tu_poll_until(gone, d3, WAIT_MS), "late d3 left");
    tu_sleep_ms(100);
    ASSERT_EQ(atomic_load(&clean_calls), 1);
    ASSERT_EQ(tu_events_count(ev_stop, id), 1);
    ASSERT_EQ(tu_garbage_count_id(root, id), 0);
    int st;
    tu_reap(shim, WAIT_MS, &st);

    /* The held cleanup fails: the late resource joins the GC entry. */
    char id2[64];
    snprintf(id2, sizeof id2, "atk-tdex2-%d", (int)getpid());
    char *e1 = make_dir_with_file(base, "e1"), *e2 = make_dir_with_file(base, "e2");
    gate_arm(&gate_clean, 2);
    atomic_store(&clean_fail_calls, 2);
    fifo = tu_arm_monitor(root, id2, &info, "runc");
    ASSERT_OK(supervisor_track_resource(id2, SUPERVISOR_RES_PATH, e1));
    shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    ASSERT(tu_poll_until(entered, &gate_clean, WAIT_MS));
    ASSERT_OK(supervisor_track_resource(id2, SUPERVISOR_RES_PATH, e2));
    tu_gate_open(&gate_clean.g);
    ASSERT(tu_events_wait(ev_stop, id2, 1, WAIT_MS));
    ASSERT_MSG(tu_events_wait(ev_gcdone, id2, 1, WAIT_MS), "no gc_done for %s", id2);
    ASSERT_MSG(!tu_exists(e1) && !tu_exists(e2), "e1/e2 left after gc_done");
    /* 3, or 4 when the GC attempt overlapped the append (see
     * gc_clean_hook_rerun_after_append). */
    ASSERT(atomic_load(&clean_calls) >= 3);
    tu_reap(shim, WAIT_MS, &st);
    ASSERT_OK(supervisor_shutdown());
}

/* Held: 3,000 exits over 8 reused ids (stale tokens, slot reuse), codes kept. */
TEST(rearm_cycles_reused_ids)
{
    char *root = setup("atk-rearm", false, false);
    const int ids = 8, rounds = 375;
    int fds0 = -1;
    for (int r = 0; r < rounds; r++) {
        pid_t shims[8];
        char id[8][64];
        for (int i = 0; i < ids; i++) {
            snprintf(id[i], sizeof id[i], "atk-rearm-%d-%d", (int)getpid(), i);
            shims[i] = arm_and_exit(root, id[i], (r * ids + i) % 200);
        }
        for (int i = 0; i < ids; i++) {
            ASSERT_MSG(tu_events_wait(ev_stop, id[i], r + 1, WAIT_MS), "round %d id %d: no stop", r, i);
            int pid, code;
            ASSERT(tu_events_last(ev_stop, id[i], &pid, &code));
            ASSERT_EQ(code, (r * ids + i) % 200);
            int st;
            ASSERT(tu_reap(shims[i], WAIT_MS, &st));
        }
        if (r == 5) fds0 = fd_count();
    }
    ASSERT_EQ(tu_events_total(ev_stop), ids * rounds);
    int fds = fd_count();
    tu_log("%d exits: fds %d at round 5, %d at the end", ids * rounds, fds0, fds);
    ASSERT(fds <= fds0 + 1);
    ASSERT_OK(supervisor_shutdown());
}

/* Held: 20 FIFOs with 1 status byte each when the shutdown comes; the rest
 * arrives after it (writers get EPIPE): shutdown returns, no stop reported
 * for an incomplete status... each FIFO read end closed (fds back). */
TEST(partial_status_during_shutdown)
{
    int fds0 = fd_count();
    char *root = setup("atk-partial", false, false);
    const int n = 20;
    int go[2], ready[2];
    ASSERT(pipe2(go, O_CLOEXEC) == 0 && pipe2(ready, O_CLOEXEC) == 0);
    pid_t w[20];
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "atk-partial-%d-%d", (int)getpid(), i);
        pid_ppid_info_t info = tu_dead_info();
        char *fifo = tu_arm_monitor(root, id, &info, "runc");
        w[i] = fork();
        ASSERT(w[i] >= 0);
        if (w[i] == 0) {
            signal(SIGPIPE, SIG_IGN);
            alarm(30);
            int fd = open(fifo, O_WRONLY | O_CLOEXEC);
            if (fd < 0) _exit(3);
            int status = 7;
            const char *b = (const char *)&status;
            if (write(fd, b, 1) != 1) _exit(4);
            char c = 'r';
            if (write(ready[1], &c, 1) != 1) _exit(5);
            if (read(go[0], &c, 1) != 1) _exit(6);
            for (int k = 1; k < 4; k++) (void)write(fd, b + k, 1);
            _exit(0);
        }
        free(fifo);
    }
    for (int i = 0; i < n; i++) {
        char c;
        ASSERT(read(ready[0], &c, 1) == 1);
    }
    tu_sleep_ms(50); /* negative window: the library has seen the partial statuses */
    long long t0 = tu_now_ms();
    ASSERT_OK(supervisor_shutdown());
    tu_log("shutdown with %d partial statuses: %lld ms", n, tu_now_ms() - t0);
    for (int i = 0; i < n; i++) (void)write(go[1], "g", 1);
    for (int i = 0; i < n; i++) {
        int st;
        ASSERT(waitpid(w[i], &st, 0) == w[i]);
    }
    close(go[0]); close(go[1]); close(ready[0]); close(ready[1]);
    tu_sleep_ms(100);
    ASSERT_EQ(tu_events_total(ev_stop), 0);
    int fds = fd_count();
    if (fds > fds0) dump_fds();
    ASSERT_MSG(fds <= fds0, "fds %d after shutdown, %d before start", fds, fds0);
    /* The same ids can be armed again after a restart. */
    ASSERT_OK(new_supervisor());
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "atk-partial-%d-%d", (int)getpid(), i);
        pid_t s = arm_and_exit(root, id, 0);
        ASSERT(tu_events_wait(ev_stop, id, 1, WAIT_MS));
        int st;
        tu_reap(s, WAIT_MS, &st);
    }
    ASSERT_OK(supervisor_shutdown());
}

/* Held: one memory cgroup tracked twice for A and once for B (both armed):
 * one real OOM kill is reported once to each, as 1 (not 2 for A); A's exit
 * removes the cgroup, B's exit then is fine; fds back. */
TEST(cgroup_tracked_for_two_ids)
{
    require_memcg();
    int fds0 = fd_count();
    char *root = setup("atk-twoids", false, false);
    char a[64], b[64], rel[64];
    snprintf(a, sizeof a, "atk-two-a-%d", (int)getpid());
    snprintf(b, sizeof b, "atk-two-b-%d", (int)getpid());
    snprintf(rel, sizeof rel, "sup-atk-two-%d", (int)getpid());
    memcg_make(rel);
    pid_ppid_info_t info = tu_dead_info();
    char *fa = tu_arm_monitor(root, a, &info, "runc");
    char *fb = tu_arm_monitor(root, b, &info, "runc");
    ASSERT_OK(supervisor_track_resource(a, SUPERVISOR_RES_CGROUP, rel));
    ASSERT_OK(supervisor_track_resource(a, SUPERVISOR_RES_CGROUP, rel));
    ASSERT_OK(supervisor_track_resource(b, SUPERVISOR_RES_CGROUP, rel));
    bool killed = oom_kill_once(rel);
    if (!killed) { memcg_remove(rel); FAIL("no OOM kill in %s", rel); }
    bool ra = tu_events_wait(ev_oom, a, 1, WAIT_MS), rb = tu_events_wait(ev_oom, b, 1, WAIT_MS);
    tu_sleep_ms(200);
    int pa, ka = -1, pb, kb = -1;
    tu_events_last(ev_oom, a, &pa, &ka);
    tu_events_last(ev_oom, b, &pb, &kb);
    tu_log("container_oom: A %d x (last %d), B %d x (last %d); cgroup oom_kill %lld",
           tu_events_count(ev_oom, a), ka, tu_events_count(ev_oom, b), kb, memcg_oom_kill(rel));
    if (!ra || !rb) { memcg_remove(rel); FAIL("OOM not reported to both (A %d, B %d)", ra, rb); }
    ASSERT_EQ(ka, 1);
    ASSERT_EQ(kb, 1);
    pid_t sa = tu_spawn_fake_shim(fa, 137, sizeof(int));
    ASSERT(tu_events_wait(ev_stop, a, 1, WAIT_MS));
    if (!tu_poll_until(memcg_gone, rel, WAIT_MS)) { memcg_remove(rel); FAIL("cgroup left after A"); }
    pid_t sb = tu_spawn_fake_shim(fb, 137, sizeof(int));
    ASSERT(tu_events_wait(ev_stop, b, 1, WAIT_MS));
    int st;
    tu_reap(sa, WAIT_MS, &st);
    tu_reap(sb, WAIT_MS, &st);
    ASSERT_EQ(tu_events_count(ev_oom, a), 1);
    ASSERT_EQ(tu_events_count(ev_oom, b), 1);
    ASSERT_EQ(tu_garbage_count_id(root, b), 0);
    ASSERT_OK(supervisor_shutdown());
    int fds = fd_count();
    if (fds > fds0) dump_fds();
    ASSERT(fds <= fds0);
}


/* DEFECT (GC/ledger): a late resource whose release fails replaces the id's
 * GC entry instead of joining it. Containers.swift releaseLate calls
 * GarbageCollector.add(id:, info: PidInfo(0,0,0,0), engineReleased: true);
 * GCList.add keeps the new entry's info and engineReleased. An entry the
 * engine added meanwhile (gc_add_container with a live pid) loses its pid
 * (never SIGKILLed) and its clean_resource (never called), yet gc_done is
 * reported. Held open: container_stopped of the exit (the late release job
 * queues behind it); the late PATH release fails once (failpoint).
 * Expected: the late resource is appended to the engine's entry: the pid is
 * killed and clean_resource runs before gc_done. */
TEST(gc_late_release_overwrites_entry)
{
    setenv("SUPERVISOR_FAILPOINTS", "clean.path=error*1", 1);
    char *root = tu_setup_root("atk-lateow");
    gate_arm(&gate_stopped, 1);
    install(false, true);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    char id[64];
    snprintf(id, sizeof id, "atk-lateow-%d", (int)getpid());
    pid_t shim = arm_and_exit(root, id, 0);
    ASSERT_MSG(tu_poll_until(entered, &gate_stopped, WAIT_MS), "no container_stopped");
    ASSERT_EQ(atomic_load(&clean_calls), 1);
    char *base = tu_mkdtemp("atk-lateow-res");
    char *dir = make_dir_with_file(base, "late");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, dir));
    pid_t child = tu_spawn_paused();
    pid_ppid_info_t info = { child, 0, 0, 0 };
    ASSERT(tu_proc_start_time(child, &info.start_time));
    ASSERT_OK(gc_add_container(id, "runc", &info));
    if (getenv("ATK_VERBOSE")) { char *j = tu_read_file(tu_path_join(root, "garbage.json"), NULL); tu_log("before: %s", j); }
    tu_gate_open(&gate_stopped.g);
    bool done = tu_events_wait(ev_gcdone, id, 1, WAIT_MS);
    tu_sleep_ms(100);
    bool alive = tu_proc_running(child);
    int cleans = atomic_load(&clean_calls);
    int st;
    tu_reap(shim, WAIT_MS, &st);
    tu_kill_reap(child);
    ASSERT_MSG(done, "no gc_done for %s", id);
    ASSERT_MSG(!alive && cleans >= 2,
               "DEFECT: gc_done(%s) with its GC entry's process %d %s and clean_resource called %d time(s) "
               "(once for the exit; the GC entry's never): the late release replaced the entry",
               id, (int)child, alive ? "still alive (never killed)" : "killed", cleans);
    ASSERT_OK(supervisor_shutdown());
}

/* DEFECT (GC, low): clean_resource runs again after it returned 0 when a
 * resource is appended to the entry during the attempt: the attempt is
 * "superseded" (GCList.finishAttempt) and its whole outcome dropped,
 * engineReleased included; the next attempt calls the hook again.
 * ResourceRelease: "The hook's success is remembered (and persisted) so it
 * is not run again". Expected: 1 call. */
TEST(gc_clean_hook_rerun_after_append)
{
    tu_setup_root("atk-rerun");
    gate_arm(&gate_clean, 1);
    install(false, true);
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    char id[64];
    snprintf(id, sizeof id, "atk-rerun-%d", (int)getpid());
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container(id, "runc", &info));
    ASSERT(tu_poll_until(entered, &gate_clean, WAIT_MS));
    char *base = tu_mkdtemp("atk-rerun-res");
    char *dir = make_dir_with_file(base, "late");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, dir));
    tu_gate_open(&gate_clean.g);
    ASSERT(tu_events_wait(ev_gcdone, id, 1, WAIT_MS));
    ASSERT(!tu_exists(dir));
    ASSERT_MSG(atomic_load(&clean_calls) == 1,
               "DEFECT: clean_resource(%s) called %d times; it returned 0 the first time", id, atomic_load(&clean_calls));
    ASSERT_OK(supervisor_shutdown());
}

/* DEFECT (ledger, medium): the ring of handled exits (ResourceLedger
 * finishedOrder) gets one slot per handled exit, not per id: an id re-armed
 * and exited again is appended again (forgetExit removed it from the map,
 * not from the ring). After 4096 exits of one restarting id, the next exit
 * of another id evicts the oldest slot, which names the restarting id, and
 * `finished[A] = nil` forgets A although its exit was handled a moment ago.
 * A resource tracked for A after that is then "never armed": kept (and
 * discarded at shutdown) instead of released at once. Header: "the last
 * 4096 such ids are remembered: released at once". iSulad restarts a
 * container under the same id. Expected: the late directory is removed. */
TEST(late_track_after_many_restarts)
{
    char *root = setup("atk-ring", false, false);
    char a[64], b[64];
    snprintf(a, sizeof a, "atk-ring-a-%d", (int)getpid());
    snprintf(b, sizeof b, "atk-ring-b-%d", (int)getpid());
    const int restarts = getenv("ATK_RESTARTS") ? atoi(getenv("ATK_RESTARTS")) : 4096;
    for (int i = 0; i < restarts; i++) {
        pid_t shim = arm_and_exit(root, a, 0);
        ASSERT_MSG(tu_events_wait(ev_stop, a, i + 1, WAIT_MS), "restart %d: no stop", i);
        int st;
        ASSERT(tu_reap(shim, WAIT_MS, &st));
    }
    pid_t shim = arm_and_exit(root, b, 0);
    ASSERT(tu_events_wait(ev_stop, b, 1, WAIT_MS));
    int st;
    ASSERT(tu_reap(shim, WAIT_MS, &st));
    /* A's exit is the second most recent one handled. */
    char *base = tu_mkdtemp("atk-ring-res");
    char *dir = make_dir_with_file(base, "late");
    ASSERT_OK(supervisor_track_resource(a, SUPERVISOR_RES_PATH, dir));
    bool released = tu_poll_until(gone, dir, 3000);
    ASSERT_MSG(released, "DEFECT: %s tracked for %s after its exit (the 2nd most recent handled, after %d restarts "
               "under that id) was kept as 'never armed' instead of released at once", dir, a, restarts);
    ASSERT_OK(supervisor_shutdown());
}

/* Held: gc_restore in a loop while 300 entries are added and released from
 * two threads: every id gets exactly one gc_done (none resurrected by a
 * restore reading the file before a removal was durable), the list ends
 * empty; gc_is_gc_progress(id) inside gc_done is false at once. */
static atomic_bool restore_stop;
static atomic_int restore_calls, restore_fail;
static void *restore_loop(void *p)
{
    (void)p;
    while (!atomic_load(&restore_stop)) {
        if (gc_restore() != 0) atomic_fetch_add(&restore_fail, 1);
        atomic_fetch_add(&restore_calls, 1);
    }
    return NULL;
}
static void *adder(void *p)
{
    int base = (int)(intptr_t)p;
    for (int i = 0; i < 150; i++) {
        char id[64];
        snprintf(id, sizeof id, "atk-rst-%d-%d", (int)getpid(), base + i);
        pid_ppid_info_t info = { 0, 0, 0, 0 };
        if (gc_add_container(id, "runc", &info) != 0) FAIL("gc_add_container(%s): %s", id, strerror(errno));
    }
    return NULL;
}

TEST(gc_restore_while_releasing)
{
    char *root = tu_setup_root("atk-rst");
    install(false, true);
    atomic_store(&gcdone_check_self, true);
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    pthread_t r, a1, a2;
    pthread_create(&r, NULL, restore_loop, NULL);
    pthread_create(&a1, NULL, adder, (void *)(intptr_t)0);
    pthread_create(&a2, NULL, adder, (void *)(intptr_t)1000);
    pthread_join(a1, NULL);
    pthread_join(a2, NULL);
    bool all = tu_events_wait_total(ev_gcdone, 300, WAIT_MS);
    tu_sleep_ms(300); /* negative window: a resurrected entry would be released again */
    atomic_store(&restore_stop, true);
    pthread_join(r, NULL);
    tu_log("%d gc_restore calls (%d failed), %d gc_done, %d keys", atomic_load(&restore_calls),
           atomic_load(&restore_fail), tu_events_total(ev_gcdone), tu_events_keys(ev_gcdone));
    ASSERT(all);
    ASSERT_EQ(atomic_load(&restore_fail), 0);
    ASSERT_EQ(tu_events_keys(ev_gcdone), 300);
    ASSERT_EQ(tu_events_total(ev_gcdone), 300);
    ASSERT_EQ(atomic_load(&gcdone_self_true), 0);
    ASSERT_EQ(atomic_load(&gcdone_self_slow), 0);
    ASSERT_OK(supervisor_shutdown());
    ASSERT_EQ(tu_garbage_count(root), 0);
}

/* DEFECT (GC/pool, medium): as many hung GC steps as there are workers stop
 * all exit handling. GC attempts and exits share the bounded pool
 * (WorkerPool, `workers`); a step that hangs (a clean_resource hook or an
 * umount2 in D state) holds its worker with no deadline, so with `workers`
 * such entries no exit is handled and no container_stopped is delivered.
 * SPEC 4: "One entry's hung step never blocks the others." Here workers = 2,
 * two GC entries hang in clean_resource, then a container exits.
 * Expected: its container_stopped within seconds. */
TEST(gc_hung_entries_starve_exits)
{
    char *root = tu_setup_root("atk-hung");
    ASSERT_OK(supervisor_set_option("workers", "2"));
    tu_gate_init(&hang_gate);
    hang_prefix = "atk-hung-gc-";
    install(false, true);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    for (int i = 0; i < 2; i++) {
        char gid[64];
        snprintf(gid, sizeof gid, "atk-hung-gc-%d-%d", (int)getpid(), i);
        pid_ppid_info_t info = tu_dead_info();
        ASSERT_OK(gc_add_container(gid, "runc", &info));
    }
    long long dl = tu_now_ms() + WAIT_MS;
    while (atomic_load(&hang_entered) < 1 && tu_now_ms() < dl) tu_sleep_ms(1);
    ASSERT_EQ(atomic_load(&hang_entered), 1);
    /* GC attempts leave a worker for exits: the second entry waits. */
    tu_sleep_ms(200);
    ASSERT_EQ(atomic_load(&hang_entered), 1);
    char id[64];
    snprintf(id, sizeof id, "atk-hung-%d", (int)getpid());
    pid_t shim = arm_and_exit(root, id, 5);
    long long t0 = tu_now_ms();
    bool stopped = tu_events_wait(ev_stop, id, 1, 3000);
    long long waited = tu_now_ms() - t0;
    tu_gate_open(&hang_gate);
    bool later = tu_events_wait(ev_stop, id, 1, WAIT_MS);
    int st;
    tu_reap(shim, WAIT_MS, &st);
    ASSERT(later);
    ASSERT_MSG(stopped, "DEFECT: container_stopped(%s) not delivered within %lld ms while 2 GC entries hang "
               "(workers = 2); it came only after the hung steps returned", id, waited);
    ASSERT_OK(supervisor_shutdown());
}

/* Held: 6 real OOM kills in a watched v1 cgroup, the last one racing the
 * exit (the fake shim writes 137 right after it): every report grows, the
 * last one before container_stopped says 6, none comes after. */
TEST(oom_many_kills_racing_exit)
{
    require_memcg();
    char *root = setup("atk-oommany", false, false);
    char id[64], rel[64];
    snprintf(id, sizeof id, "atk-oommany-%d", (int)getpid());
    snprintf(rel, sizeof rel, "sup-atk-oommany-%d", (int)getpid());
    memcg_make(rel);
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, id, &info, "runc");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_CGROUP, rel));
    for (int i = 0; i < 5; i++)
        if (!oom_kill_once(rel)) { memcg_remove(rel); FAIL("kill %d: no OOM kill", i); }
    bool k6 = oom_kill_once(rel);
    pid_t shim = tu_spawn_fake_shim(fifo, 137, sizeof(int));
    long long kills = memcg_oom_kill(rel);
    ASSERT(tu_events_wait(ev_stop, id, 1, WAIT_MS));
    tu_sleep_ms(300); /* negative window: no container_oom after the stop */
    int pid, last = -1;
    tu_events_last(ev_oom, id, &pid, &last);
    int n = tu_events_count(ev_oom, id);
    tu_log("cgroup oom_kill %lld; %d container_oom, last %d; %d before the stop; %d not growing",
           kills, n, last, atomic_load(&oom_before_stop), atomic_load(&oom_not_growing));
    int st;
    tu_reap(shim, WAIT_MS, &st);
    if (!tu_poll_until(memcg_gone, rel, WAIT_MS)) { memcg_remove(rel); FAIL("cgroup left"); }
    ASSERT(k6 && kills == 6);
    ASSERT_EQ(last, 6);
    ASSERT_EQ(atomic_load(&oom_before_stop), n);
    ASSERT_EQ(atomic_load(&oom_not_growing), 0);
    ASSERT_OK(supervisor_shutdown());
}

/* DEFECT (hooks, low): the log hook may call supervisor_shutdown and it
 * runs: the log thread (HookLogQueue, "supv-log") is not marked as a
 * library thread, so shutdown does not fail with EDEADLK as the header
 * says for every hook; it shuts the engine down from inside the hook and
 * ends by joining the log thread from itself (Log.flush). Expected: -1 with
 * EDEADLK, the engine still running. */
static bool log_sd_returned(void *p) { (void)p; return atomic_load(&log_sd_state) == 3; }

TEST(log_hook_calls_shutdown)
{
    char *root = setup("atk-logsd", false, false);
    char id[64];
    snprintf(id, sizeof id, "atk-logsd-%d", (int)getpid());
    pid_ppid_info_t info = tu_dead_info();
    free(tu_arm_monitor(root, id, &info, "runc"));
    atomic_store(&log_sd_state, 1);
    ASSERT_FAILS(supervisor_set_option("atk-log-trigger", "1"), EINVAL);
    bool returned = tu_poll_until(log_sd_returned, NULL, 5000);
    supervisor_state_t state = supervisor_container_state(id);
    tu_log("supervisor_shutdown from the log hook: %s, rc %d errno %d; %s afterwards state %d",
           returned ? "returned" : "HUNG", log_sd_rc, log_sd_errno, id, (int)state);
    ASSERT_MSG(returned, "DEFECT: supervisor_shutdown called from the log hook never returned");
    ASSERT_MSG(log_sd_rc == -1 && log_sd_errno == EDEADLK,
               "DEFECT: supervisor_shutdown from the log hook returned %d/%d (want -1/EDEADLK); "
               "the monitor of %s is now state %d", log_sd_rc, log_sd_errno, id, (int)state);
    ASSERT_OK(supervisor_shutdown());
}

static const tu_case cases[] = {
    TU_CASE(log_hook_calls_shutdown),
    TU_CASE(oom_many_kills_racing_exit),
    TU_CASE(gc_hung_entries_starve_exits),
    TU_CASE(gc_restore_while_releasing),
    TU_CASE(late_track_after_many_restarts),
    TU_CASE(gc_late_release_overwrites_entry),
    TU_CASE(gc_clean_hook_rerun_after_append),
    TU_CASE(gc_track_while_gc_done_runs),
    TU_CASE(gc_readd_state_during_delivery),
    TU_CASE(shutdown_keeps_armed_resources),
    TU_CASE(oom_reported_when_shutdown_races_exit),
    TU_CASE(oom_watch_fd_cycles),
    TU_CASE(restart_cycles_baseline),
    TU_CASE(concurrent_shutdown),
    TU_CASE(hooks_call_api_during_shutdown),
    TU_CASE(root_dir_busy_while_loading),
    TU_CASE(never_armed_limit_then_arm),
    TU_CASE(track_during_exit_released_once),
    TU_CASE(rearm_cycles_reused_ids),
    TU_CASE(partial_status_during_shutdown),
    TU_CASE(cgroup_tracked_for_two_ids),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
