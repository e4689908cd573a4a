/*
 * Resources tracked for ids that are not armed (issue 9, item 4) and the GC
 * state until gc_done (issue 14, item 6). Fake shims (testutil) deliver the
 * exits; the resources are real directories and a real tmpfs.
 *
 *   gc_state_until_gc_done  gc_is_gc_progress / supervisor_container_state
 *                         never leave GC before gc_done returned (50 runs).
 *   track_after_exit      tracked after the exit was handled: released at
 *                         once; a busy mount goes to GC and gets gc_done.
 *   track_after_exit_not_reused  nothing of the old run is kept for the next
 *                         container with the same id.
 *   track_in_gc           tracked for an id in GC: appended to its entry.
 *   readme_flow_200       arm then track, the exit racing the track: all 200
 *                         resources released.
 *   never_armed_bounded   kept for the next arm / gc_add_container; 1024 ids,
 *                         64 resources per id (ENOSPC beyond); shutdown
 *                         discards them.
 *   never_armed_memory    300,000 never-armed ids: RSS growth < 8 MB.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events.h"

#define WAIT_MS 10000
#define QUIET_MS 300

static char *setup(const char *tag)
{
    char *root = tu_setup_root(tag);
    ev_install(false);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    return root;
}

static bool gone(void *path) { return !tu_exists((const char *)path); }

/* A directory with a file in it (a container's scratch space). */
static char *make_res(const char *base, const char *name)
{
    char *d = tu_path_join(base, name);
    tu_mkdir(d);
    char *f = tu_path_join(d, "data");
    tu_write_file(f, "x", 1);
    free(f);
    return d;
}

/* Arms id with a gone pid, delivers exit code 0 through a fake shim and
 * waits for the n-th container_stopped of id. */
static void run_and_exit(const char *root, const char *id, int n)
{
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, id, &info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    ASSERT_MSG(ev_wait(EV_STOPPED, id, n, WAIT_MS), "%s: no container_stopped #%d", id, n);
    int st;
    ASSERT(tu_reap(shim, WAIT_MS, &st));
    free(fifo);
}

/* ---- B: GC state until gc_done ------------------------------------------- */

#define GC_RUNS 50
static atomic_bool g_done[GC_RUNS];
static char g_gc_prefix[32];

/* gc_done that takes a moment: the state must stay GC until it returned. */
static void slow_gc_done(void *ctx, const char *id)
{
    (void)ctx;
    tu_sleep_ms(3);
    size_t n = strlen(g_gc_prefix);
    if (strncmp(id, g_gc_prefix, n) == 0) {
        int i = atoi(id + n);
        if (i >= 0 && i < GC_RUNS) atomic_store(&g_done[i], true);
    }
}

TEST(gc_state_until_gc_done)
{
    tu_setup_root("gcstate");
    supervisor_engine_ops_t ops;
    ev_fill_ops(&ops, false);
    ops.gc_done = slow_gc_done;
    ASSERT_OK(supervisor_set_engine_ops(&ops));
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    snprintf(g_gc_prefix, sizeof g_gc_prefix, "gcs-%d-", (int)getpid());
    long polls = 0;
    for (int i = 0; i < GC_RUNS; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s%d", g_gc_prefix, i);
        pid_ppid_info_t info = tu_dead_info();
        ASSERT_OK(gc_add_container(id, "runc", &info));
        long long deadline = tu_now_ms() + WAIT_MS;
        bool left = false;
        while (tu_now_ms() < deadline) {
            polls++;
            /* Read the state first, then the flag: "not in GC" seen while
             * gc_done has not returned is the defect. */
            bool in_gc = gc_is_gc_progress(id);
            bool done = atomic_load(&g_done[i]);
            ASSERT_MSG(in_gc || done, "run %d: gc_is_gc_progress(%s) false before gc_done returned", i, id);
            supervisor_state_t s = supervisor_container_state(id);
            done = atomic_load(&g_done[i]);
            ASSERT_MSG(s == SUPERVISOR_STATE_GC || done,
                       "run %d: supervisor_container_state(%s) = %d before gc_done returned", i, id, (int)s);
            if (!in_gc && s == SUPERVISOR_STATE_NONE) { left = true; break; }
        }
        ASSERT_MSG(left, "run %d: %s still in GC after %d ms (gc_done %d)", i, id, WAIT_MS,
                   (int)atomic_load(&g_done[i]));
    }
    tu_log("%d entries, %ld polls: never out of GC before gc_done returned", GC_RUNS, polls);
    ASSERT_OK(supervisor_shutdown());
}

/* ---- C: tracked after the exit ------------------------------------------ */

/* A child whose cwd is in dir (keeps a mount busy) until killed. */
static pid_t spawn_holder(const char *dir)
{
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        alarm(60);
        if (chdir(dir) != 0) _exit(3);
        for (;;) pause();
    }
    return pid;
}

static bool cwd_in(void *arg)
{
    void **a = arg;
    char link[64], buf[4096];
    snprintf(link, sizeof link, "/proc/%d/cwd", (int)(intptr_t)a[0]);
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    if (n <= 0) return false;
    buf[n] = 0;
    return strcmp(buf, (const char *)a[1]) == 0;
}

static bool in_gc(void *id) { return gc_is_gc_progress((const char *)id); }

TEST(track_after_exit)
{
    char *root = setup("track-after");
    ASSERT_OK(supervisor_set_option("mount_detach_after", "1000000"));
    char id[64];
    snprintf(id, sizeof id, "tae-%d", (int)getpid());
    run_and_exit(root, id, 1);
    char *base = tu_mkdtemp("track-after-res");
    char *dir = make_res(base, "late");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, dir));
    ASSERT_MSG(tu_poll_until(gone, dir, WAIT_MS), "%s tracked after the exit of %s: never released", dir, id);
    ASSERT_EQ(supervisor_container_state(id), SUPERVISOR_STATE_NONE);
    ASSERT_EQ(tu_garbage_count_id(root, id), 0);

    /* What cannot be released at once goes to GC as an entry for the id. */
    char *mnt = tu_path_join(base, "busy");
    tu_mkdir(mnt);
    ASSERT_MSG(mount("tmpfs", mnt, "tmpfs", 0, "size=64k") == 0, "mount tmpfs %s: %s", mnt, strerror(errno));
    pid_t holder = spawn_holder(mnt);
    void *ca[2] = { (void *)(intptr_t)holder, mnt };
    if (!tu_poll_until(cwd_in, ca, WAIT_MS)) { kill(holder, SIGKILL); umount2(mnt, MNT_DETACH); FAIL("holder"); }
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_MOUNT, mnt));
    bool entered = tu_poll_until(in_gc, id, WAIT_MS);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    if (!entered) umount2(mnt, MNT_DETACH);
    ASSERT_MSG(entered, "busy mount tracked after the exit: no GC entry for %s", id);
    ASSERT_MSG(ev_wait(EV_GC_DONE, id, 1, WAIT_MS), "no gc_done for %s once the mount was free", id);
    bool still = tu_is_mounted(mnt);
    if (still) umount2(mnt, MNT_DETACH);
    ASSERT_MSG(!still, "%s still mounted after gc_done", mnt);
    ASSERT_EQ(tu_garbage_count_id(root, id), 0);
    free(mnt);
    free(dir);
    ASSERT_OK(supervisor_shutdown());
}

TEST(track_after_exit_not_reused)
{
    char *root = setup("track-reuse");
    char id[64];
    snprintf(id, sizeof id, "tar-%d", (int)getpid());
    char *base = tu_mkdtemp("track-reuse-res");
    run_and_exit(root, id, 1);
    /* Two dirs tracked for the old run, after its exit: released now. */
    char *a = make_res(base, "old-a"), *b = make_res(base, "old-b");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, a));
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, b));
    ASSERT_MSG(tu_poll_until(gone, a, WAIT_MS) && tu_poll_until(gone, b, WAIT_MS),
               "dirs tracked after the exit not released (%s %s)", tu_exists(a) ? a : "", tu_exists(b) ? b : "");
    /* The engine reuses the path for the next container, untracked; the
     * next run tracks its own dir. */
    free(make_res(base, "old-b"));
    char *untracked = make_res(base, "untracked");
    char *mine = make_res(base, "run2");
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, id, &info, "runc");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, mine));
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    ASSERT_MSG(ev_wait(EV_STOPPED, id, 2, WAIT_MS), "no container_stopped for the second %s", id);
    ASSERT_MSG(tu_poll_until(gone, mine, WAIT_MS), "the new run's own dir %s not released", mine);
    tu_sleep_ms(QUIET_MS);
    ASSERT_MSG(tu_exists(b), "%s (tracked for the OLD run, re-created untracked) removed by the new run", b);
    ASSERT_MSG(tu_exists(untracked), "untracked %s removed by the new run", untracked);
    int st;
    ASSERT(tu_reap(shim, WAIT_MS, &st));
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

TEST(track_in_gc)
{
    /* The collector is not started: the entry stays in GC meanwhile. */
    char *root = tu_setup_root("track-gc");
    ev_install(false);
    ASSERT_OK(new_gchandler());
    char id[64];
    snprintf(id, sizeof id, "tig-%d", (int)getpid());
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container(id, "runc", &info));
    char *base = tu_mkdtemp("track-gc-res");
    char *dir = make_res(base, "appended");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, dir));
    char *status = supervisor_status_json();
    ASSERT(status != NULL);
    ASSERT_MSG(strstr(status, dir) != NULL, "%s not in the GC entry's resources: %s", dir, status);
    free(status);
    ASSERT_OK(start_gchandler());
    ASSERT_MSG(ev_wait(EV_GC_DONE, id, 1, WAIT_MS), "no gc_done for %s", id);
    ASSERT_MSG(!tu_exists(dir), "%s appended to the GC entry but not released", dir);
    ASSERT_EQ(tu_garbage_count_id(root, id), 0);
    ASSERT_OK(supervisor_shutdown());
}

#define FLOW_N 200

TEST(readme_flow_200)
{
    char *root = setup("readme-flow");
    char *base = tu_mkdtemp("readme-flow-res");
    pid_ppid_info_t info = tu_dead_info();
    char *res[FLOW_N];
    for (int i = 0; i < FLOW_N; i++) {
        char id[64], name[32];
        snprintf(id, sizeof id, "rf-%d-%d", (int)getpid(), i);
        snprintf(name, sizeof name, "r%d", i);
        res[i] = make_res(base, name);
        char *dir = tu_path_join(root, id);
        tu_mkdir(dir);
        char *fifo = container_exit_fifo_create(dir);
        ASSERT(fifo != NULL);
        /* The shim writes the status the moment the read end is open. */
        tu_spawn_fake_shim(fifo, 0, sizeof(int));
        int fd = container_exit_fifo_open(fifo);
        ASSERT(fd >= 0);
        ASSERT_OK(container_supervisor_add_exit_monitor(fd, &info, id, "runc"));
        ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, res[i]));
        free(fifo);
        free(dir);
    }
    ASSERT_MSG(ev_wait_kind(EV_STOPPED, FLOW_N, 30000), "%d of %d container_stopped", ev_count_kind(EV_STOPPED),
               FLOW_N);
    long long deadline = tu_now_ms() + WAIT_MS;
    int left;
    do {
        left = 0;
        for (int i = 0; i < FLOW_N; i++) left += tu_exists(res[i]);
        if (left) tu_sleep_ms(20);
    } while (left && tu_now_ms() < deadline);
    for (int i = 0, shown = 0; i < FLOW_N && shown < 5; i++)
        if (tu_exists(res[i])) { tu_log("not released: %s (rf-%d-%d)", res[i], (int)getpid(), i); shown++; }
    ASSERT_MSG(left == 0, "%d of %d resources tracked right after arming never released", left, FLOW_N);
    ASSERT_EQ(tu_garbage_count(root), 0);
    ASSERT_OK(supervisor_shutdown());
}

/* ---- C: never-armed ids --------------------------------------------------- */

TEST(never_armed_bounded)
{
    char *root = setup("never-armed");
    char *base = tu_mkdtemp("never-armed-res");
    int pid = (int)getpid();
    char id[64], val[256];

    /* Kept for the next arm. */
    snprintf(id, sizeof id, "na-arm-%d", pid);
    char *x = make_res(base, "for-arm");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, x));
    ASSERT_MSG(tu_exists(x), "tracked before arming, released before the container ran");
    run_and_exit(root, id, 1);
    ASSERT_MSG(tu_poll_until(gone, x, WAIT_MS), "tracked before arming: %s not released at the exit", x);

    /* Kept for gc_add_container. */
    snprintf(id, sizeof id, "na-gc-%d", pid);
    char *y = make_res(base, "for-gc");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, y));
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container(id, "runc", &info));
    ASSERT_MSG(ev_wait(EV_GC_DONE, id, 1, WAIT_MS), "no gc_done for %s", id);
    ASSERT_MSG(!tu_exists(y), "tracked before gc_add_container: %s not released by GC", y);

    /* 1024 ids; the 1025th is refused. */
    char *z = make_res(base, "discarded");
    for (int i = 0; i < 1024; i++) {
        snprintf(id, sizeof id, "na-%d-%d", pid, i);
        if (i == 0) snprintf(val, sizeof val, "%s", z);
        else snprintf(val, sizeof val, "/tmp/sup-na-%d/%d", pid, i);
        errno = 0;
        int r = supervisor_track_resource(id, SUPERVISOR_RES_PATH, val);
        ASSERT_MSG(r == 0, "never-armed id #%d (%s) refused: errno %d %s", i, id, errno, strerror(errno));
    }
    snprintf(id, sizeof id, "na-%d-1024", pid);
    ASSERT_FAILS(supervisor_track_resource(id, SUPERVISOR_RES_PATH, "/tmp/sup-na-x/1024"), ENOSPC);
    /* 64 resources per id. */
    snprintf(id, sizeof id, "na-%d-0", pid);
    for (int k = 1; k < 64; k++) {
        snprintf(val, sizeof val, "/tmp/sup-na-%d/0-%d", pid, k);
        errno = 0;
        int r = supervisor_track_resource(id, SUPERVISOR_RES_PATH, val);
        ASSERT_MSG(r == 0, "resource %d of a never-armed id refused: errno %d", k + 1, errno);
    }
    ASSERT_FAILS(supervisor_track_resource(id, SUPERVISOR_RES_PATH, "/tmp/sup-na-x/65"), ENOSPC);

    /* Shutdown discards them: tracking works again, the old ones are gone. */
    ASSERT_OK(supervisor_shutdown());
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    snprintf(id, sizeof id, "na-%d-1024", pid);
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, "/tmp/sup-na-x/1024"));
    snprintf(id, sizeof id, "na-%d-0", pid);
    run_and_exit(root, id, 1);
    tu_sleep_ms(QUIET_MS);
    ASSERT_MSG(tu_exists(z), "%s tracked for a never-armed id before supervisor_shutdown was released by a "
               "later container with that id (should have been discarded)", z);
    ASSERT_OK(supervisor_shutdown());
}

static long long rss_bytes(void)
{
    char *t = tu_read_file("/proc/self/statm", NULL);
    long long size = 0, res = 0;
    if (t && sscanf(t, "%lld %lld", &size, &res) != 2) res = 0;
    free(t);
    return res * sysconf(_SC_PAGESIZE);
}

TEST(never_armed_memory)
{
    setup("never-armed-mem");
    int pid = (int)getpid();
    char id[64], val[128];
    /* Warm-up: one-time allocations (log paths, tables) are not growth. */
    ASSERT_OK(supervisor_track_resource("nam-warm", SUPERVISOR_RES_PATH, "/tmp/sup-nam/warm"));
    long long r0 = rss_bytes();
    const int n = 300000;
    int ok = 0, enospc = 0, other = 0;
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "nam-%d-%d", pid, i);
        snprintf(val, sizeof val, "/tmp/sup-nam-%d/%d", pid, i);
        errno = 0;
        int r = supervisor_track_resource(id, SUPERVISOR_RES_PATH, val);
        if (r == 0) ok++;
        else if (errno == ENOSPC) enospc++;
        else other++;
    }
    long long r1 = rss_bytes();
    tu_log("%d ids: %d kept, %d ENOSPC, %d other; RSS %+lld KiB (%ld log lines)", n, ok, enospc, other,
           (r1 - r0) / 1024, ev_log_total());
    ASSERT_MSG(other == 0, "%d failures other than ENOSPC", other);
    ASSERT_MSG(enospc >= n - 1024, "only %d of %d never-armed ids refused (ENOSPC)", enospc, n);
    ASSERT_MSG(ok <= 1024, "%d never-armed ids kept (at most 1024)", ok);
    /* Under ASan/TSan their own memory (quarantine of freed blocks) dominates. */
    bool sanitized = getenv("ASAN_OPTIONS") != NULL || getenv("TSAN_OPTIONS") != NULL;
    if (!sanitized)
        ASSERT_MSG(r1 - r0 < 8LL * 1024 * 1024, "RSS grew by %lld KiB for %d never-armed ids", (r1 - r0) / 1024, n);
    ASSERT_OK(supervisor_shutdown());
}

static const tu_case cases[] = {
    TU_CASE(gc_state_until_gc_done),
    TU_CASE(track_after_exit),
    TU_CASE(track_after_exit_not_reused),
    TU_CASE(track_in_gc),
    TU_CASE(readme_flow_200),
    TU_CASE(never_armed_bounded),
    TU_CASE(never_armed_memory),
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    return TU_MAIN(argc, argv, cases);
}
