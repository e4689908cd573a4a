/* Fault injection (issue 6, item 5): an error or a delay at each failpoint
 * ends in a retried, eventually clean state with nothing lost, and one
 * delayed entry does not hold up the others.
 *
 * Failpoints are armed by SUPERVISOR_FAILPOINTS, read once per process, so
 * every case re-executes itself with the variable set (armed()) and the
 * parent only checks that the armed child passed. Running a case by hand:
 *     faults_cases persist_rename_error
 * Every wait has a deadline. Mount and cgroup cases need root.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define WAIT_MS 10000
#define QUIET_MS 300

/* ---- arming ------------------------------------------------------------- */

/* true in the armed child (run the body); in the parent, runs the child with
 * SUPERVISOR_FAILPOINTS=spec, checks it passed, and returns false. */
static bool armed(const char *spec)
{
    const char *cur = getenv("SUPERVISOR_FAILPOINTS");
    if (cur != NULL && strcmp(cur, spec) == 0) {
        tu_log("armed: %s", spec);
        return true;
    }
    char env[512];
    snprintf(env, sizeof(env), "SUPERVISOR_FAILPOINTS=%s", spec);
    const char *extra[] = { env, NULL };
    pid_t pid = tu_spawn_self(tu_case_name(), extra);
    int st = 0;
    ASSERT_MSG(tu_reap(pid, 60000, &st), "armed child (%s) did not finish within 60 s", spec);
    ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "armed child (%s) failed: wait status %#x", spec, st);
    return false;
}

/* ---- hooks: record, and check gc_done's promise at the moment it runs ---- */

static char *g_root;
static tu_events *stopped, *gc_done, *hook_calls;
static atomic_int gc_done_while_on_disk;
static atomic_int hook_fail_first; /* clean hook fails this many calls per id */

static void on_stopped(void *ctx, const char *id, int pid, int code)
{
    (void)ctx;
    tu_events_record(stopped, id, pid, code);
}

static void on_gc_done(void *ctx, const char *id)
{
    (void)ctx;
    /* gc_done means the removal is durable: the id must not be on disk now. */
    if (tu_garbage_count_id(g_root, id) != 0) atomic_fetch_add(&gc_done_while_on_disk, 1);
    tu_events_record(gc_done, id, 0, 0);
}

static void on_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (getenv("FAULTS_VERBOSE") != NULL) fprintf(stderr, "[lib %d] %s\n", level, msg);
}

static int on_clean(void *ctx, const char *id, const char *runtime, int pid)
{
    (void)ctx;
    (void)runtime;
    tu_events_record(hook_calls, id, pid, 0);
    return tu_events_count(hook_calls, id) <= atomic_load(&hook_fail_first) ? 1 : 0;
}

/* Fresh root, short retry timings, recording hooks; supervisor and GC store
 * up (the collector is started by the case). */
static char *setup(const char *tag, bool with_clean_hook)
{
    g_root = tu_setup_root(tag);
    stopped = tu_events_new();
    gc_done = tu_events_new();
    hook_calls = tu_events_new();
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof(ops));
    ops.struct_size = sizeof(ops);
    ops.container_stopped = on_stopped;
    ops.gc_done = on_gc_done;
    ops.clean_resource = with_clean_hook ? on_clean : NULL;
    ops.log = on_log;
    ASSERT_OK(supervisor_set_engine_ops(&ops));
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    return g_root;
}


static void expect_gc_done(const char *id, int timeout_ms)
{
    ASSERT_MSG(tu_events_wait(gc_done, id, 1, timeout_ms), "no gc_done for %s within %d ms", id, timeout_ms);
}

/* The end state every case must reach: nothing in GC, nothing on disk, each
 * gc_done exactly once and only after the removal was durable, no temp file. */
static void expect_clean_end(const char *const *ids, size_t n)
{
    tu_sleep_ms(QUIET_MS); /* negative check: no late duplicate events */
    for (size_t i = 0; i < n; i++) {
        ASSERT_MSG(tu_events_count(gc_done, ids[i]) == 1, "%s: %d gc_done calls", ids[i],
                   tu_events_count(gc_done, ids[i]));
        ASSERT_EQ(supervisor_container_state(ids[i]), SUPERVISOR_STATE_NONE);
        ASSERT(!gc_is_gc_progress(ids[i]));
    }
    ASSERT_EQ(tu_garbage_count(g_root), 0);
    ASSERT_MSG(atomic_load(&gc_done_while_on_disk) == 0, "gc_done ran while the entry was still on disk");
    char *tmp = tu_path_join(g_root, "garbage.json.tmp");
    ASSERT_MSG(access(tmp, F_OK) != 0, "garbage.json.tmp left behind");
    free(tmp);
    DIR *d = opendir(g_root);
    ASSERT(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ASSERT_MSG(strncmp(e->d_name, "garbage.json.corrupt", 20) != 0, "%s appeared", e->d_name);
    closedir(d);
    ASSERT_OK(supervisor_shutdown());
}

/* ---- persistence: write, fsync, rename, dirsync ------------------------- */

struct on_disk_arg {
    const char *id;
};
static bool on_disk(void *arg) { return tu_garbage_count_id(g_root, ((struct on_disk_arg *)arg)->id) == 1; }

/* The first two commits fail with err. The add whose commit failed returns
 * -1/err; the entry stays in memory and the persister's retry makes it
 * durable anyway; the next add succeeds; the collector then removes both. */
static void persist_error(const char *tag, int err)
{
    setup(tag, false);
    pid_ppid_info_t info = tu_dead_info();
    long long t0 = tu_now_ms();
    errno = 0;
    int rc = gc_add_container("pe1", "runc", &info);
    int e = errno;
    ASSERT_MSG(rc == -1 && e == err, "gc_add_container with a failing commit: %d/errno %d (%s), want -1/%d", rc, e,
               strerror(e), err);
    ASSERT(gc_is_gc_progress("pe1")); /* kept in memory, not lost */
    struct on_disk_arg a = { "pe1" };
    ASSERT_MSG(tu_poll_until(on_disk, &a, WAIT_MS), "pe1 never became durable after the injected failures");
    tu_log("pe1 durable %lld ms after the failed add (persister retries)", tu_now_ms() - t0);
    /* The second injected failure may hit the persister's retry or this
     * add's commit (dirsync fails after the rename, so pe1 can be on disk
     * before any retry): an engine retries a failed add. */
    int tries = 1;
    while (gc_add_container("pe2", "runc", &info) != 0) {
        ASSERT_MSG(errno == err && tries < 3, "gc_add_container(pe2) try %d: errno %d (%s)", tries, errno,
                   strerror(errno));
        tries++;
    }
    ASSERT_EQ(tu_garbage_count_id(g_root, "pe2"), 1);
    ASSERT_EQ(tu_garbage_count_id(g_root, "pe1"), 1);
    ASSERT_EQ(tu_garbage_count(g_root), 2);
    ASSERT_OK(start_gchandler());
    expect_gc_done("pe1", WAIT_MS);
    expect_gc_done("pe2", WAIT_MS);
    const char *ids[] = { "pe1", "pe2" };
    expect_clean_end(ids, 2);
}

TEST(persist_write_error)
{
    if (armed("gc.persist.write=error*2")) persist_error("f-pw", EIO);
}
TEST(persist_fsync_error)
{
    if (armed("gc.persist.fsync=error:28*2")) persist_error("f-pf", ENOSPC);
}
TEST(persist_rename_error)
{
    if (armed("gc.persist.rename=error*2")) persist_error("f-pr", EIO);
}
TEST(persist_dirsync_error)
{
    if (armed("gc.persist.dirsync=error:5*2")) persist_error("f-pd", EIO);
}

/* Removal commits fail: gc_done waits until the removal is durable. The add
 * takes the first failure (-1), the persister's retries the next two; the
 * collector removes the entry meanwhile; gc_done only after a commit works. */
TEST(persist_rename_error_removal)
{
    if (!armed("gc.persist.rename=error*3")) return;
    setup("f-prr", false);
    ASSERT_OK(start_gchandler());
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_FAILS(gc_add_container("rr1", "runc", &info), EIO);
    expect_gc_done("rr1", WAIT_MS);
    const char *ids[] = { "rr1" };
    expect_clean_end(ids, 1);
}

/* A slow fsync delays only the adds waiting for it; adds made meanwhile ride
 * the next commit (group commit) and all of them are durable on return. */
struct adder {
    char id[32];
    pid_ppid_info_t info;
    int rc;
    long long ms;
};

static void *add_thread(void *arg)
{
    struct adder *a = arg;
    long long t = tu_now_ms();
    a->rc = gc_add_container(a->id, "runc", &a->info);
    a->ms = tu_now_ms() - t;
    return NULL;
}

TEST(persist_fsync_delay)
{
    if (!armed("gc.persist.fsync=delay:1000*1")) return;
    setup("f-pfd", false);
    enum { N = 8 };
    struct adder ad[N];
    pthread_t th[N];
    pid_ppid_info_t info = tu_dead_info();
    for (int i = 0; i < N; i++) {
        snprintf(ad[i].id, sizeof(ad[i].id), "slow%d", i);
        ad[i].info = info;
        ASSERT(pthread_create(&th[i], NULL, add_thread, &ad[i]) == 0);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    long long slowest = 0;
    for (int i = 0; i < N; i++) {
        ASSERT_MSG(ad[i].rc == 0, "%s: gc_add_container %d", ad[i].id, ad[i].rc);
        ASSERT_EQ(tu_garbage_count_id(g_root, ad[i].id), 1);
        if (ad[i].ms > slowest) slowest = ad[i].ms;
    }
    ASSERT_MSG(slowest >= 900, "the injected 1000 ms fsync delay was not observed (slowest add %lld ms)", slowest);
    ASSERT_MSG(slowest < 5000, "adds took %lld ms: the delay was not shared by one commit", slowest);
    ASSERT_OK(start_gchandler());
    const char *ids[N];
    for (int i = 0; i < N; i++) {
        expect_gc_done(ad[i].id, WAIT_MS);
        ids[i] = ad[i].id;
    }
    expect_clean_end(ids, N);
}

/* ---- cleanup steps: cgroup, mount, path, runtime, hook ------------------ */

/* Shared helpers: tu_is_mounted, tu_exists (testutil). */
#define is_mounted tu_is_mounted
#define exists tu_exists

static char *make_tmpfs(const char *tag)
{
    char *m = tu_path_join(tu_mkdtemp(tag), "m");
    tu_mkdir(m);
    ASSERT_MSG(mount("tmpfs", m, "tmpfs", 0, NULL) == 0, "mount tmpfs %s: %s", m, strerror(errno));
    return m;
}

static char *make_tree(const char *tag)
{
    char *t = tu_path_join(tu_mkdtemp(tag), "tree");
    tu_mkdir(t);
    char *sub = tu_path_join(t, "sub");
    tu_mkdir(sub);
    char *f = tu_path_join(sub, "file");
    tu_write_file(f, "x", 1);
    free(f);
    free(sub);
    return t;
}

/* The resource of one kind, created for real; `gone` says it was released. */
struct resource {
    supervisor_resource_kind_t kind;
    char value[PATH_MAX];
    char check[3][PATH_MAX]; /* paths that must be gone (cgroup: per hierarchy) */
    int nchecks;
};

static void make_resource(supervisor_resource_kind_t kind, const char *id, struct resource *r)
{
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    switch (kind) {
    case SUPERVISOR_RES_MOUNT: {
        char *m = make_tmpfs("f-mnt");
        snprintf(r->value, sizeof(r->value), "%s", m);
        snprintf(r->check[r->nchecks++], PATH_MAX, "%s", m);
        free(m);
        break;
    }
    case SUPERVISOR_RES_PATH: {
        char *t = make_tree("f-path");
        snprintf(r->value, sizeof(r->value), "%s", t);
        snprintf(r->check[r->nchecks++], PATH_MAX, "%s", t);
        free(t);
        break;
    }
    case SUPERVISOR_RES_CGROUP: {
        char name[64];
        snprintf(name, sizeof(name), "faults-%.16s-%d", id, (int)getpid());
        snprintf(r->value, sizeof(r->value), "%s", name);
        const char *hier[] = { "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified" };
        for (int i = 0; i < 2; i++) {
            snprintf(r->check[r->nchecks], PATH_MAX, "%s/%s", hier[i], name);
            ASSERT_MSG(mkdir(r->check[r->nchecks], 0755) == 0, "mkdir %s: %s", r->check[r->nchecks],
                       strerror(errno));
            r->nchecks++;
        }
        break;
    }
    case SUPERVISOR_RES_RUNTIME: {
        /* runc state root without this container: `delete --force` says it
         * does not exist, which the cleaner counts as done. */
        char *d = tu_mkdtemp("f-runc");
        snprintf(r->value, sizeof(r->value), "%s", d);
        free(d);
        break;
    }
    }
}

static bool resource_gone(const struct resource *r)
{
    for (int i = 0; i < r->nchecks; i++) {
        if (r->kind == SUPERVISOR_RES_MOUNT ? is_mounted(r->check[i]) : exists(r->check[i])) return false;
    }
    return true;
}

/* Exit path: arm, track, the fake shim reports `code`. The injected cleanup
 * failures put the container in GC (durably); the collector retries; gc_done. */
static void clean_error(const char *tag, supervisor_resource_kind_t kind, int hook_failures_by_failpoint)
{
    char *root = setup(tag, true);
    ASSERT_OK(start_gchandler());
    pid_ppid_info_t info = tu_dead_info();
    const char *id = "ce1";
    struct resource r;
    char *fifo = tu_arm_monitor(root, id, &info, "runc");
    if ((int)kind != 0) {
        make_resource(kind, id, &r);
        ASSERT_OK(supervisor_track_resource(id, kind, r.value));
    }
    long long t0 = tu_now_ms();
    pid_t shim = tu_spawn_fake_shim(fifo, 7, sizeof(int));
    ASSERT_MSG(tu_events_wait(stopped, id, 1, WAIT_MS), "no container_stopped");
    int pid = 0, code = 0;
    tu_events_last(stopped, id, &pid, &code);
    ASSERT_EQ(code, 7);
    ASSERT_EQ(pid, info.pid);
    int st;
    ASSERT(tu_reap(shim, WAIT_MS, &st));
    /* The injected failure is real: the first cleanup failed, so the
     * container is in GC unless the collector already finished with it. */
    ASSERT_MSG(tu_events_count(gc_done, id) == 1 || supervisor_container_state(id) == SUPERVISOR_STATE_GC,
               "not in GC after an injected cleanup failure");
    expect_gc_done(id, WAIT_MS);
    tu_log("gc_done %lld ms after the exit", tu_now_ms() - t0);
    if ((int)kind != 0) ASSERT_MSG(resource_gone(&r), "the %s resource %s was not released", tag, r.value);
    /* The hook ran only when its failpoint let it through, and succeeded. */
    (void)hook_failures_by_failpoint;
    ASSERT_EQ(tu_events_count(hook_calls, id), 1);
    tu_sleep_ms(QUIET_MS);
    ASSERT_EQ(tu_events_count(stopped, id), 1);
    const char *ids[] = { id };
    expect_clean_end(ids, 1);
    free(fifo);
}

TEST(clean_mount_error)
{
    if (armed("clean.mount=error*3")) clean_error("f-cm", SUPERVISOR_RES_MOUNT, 0);
}
TEST(clean_path_error)
{
    if (armed("clean.path=error*3")) clean_error("f-cp", SUPERVISOR_RES_PATH, 0);
}
TEST(clean_cgroup_error)
{
    if (armed("clean.cgroup=error*3")) clean_error("f-cc", SUPERVISOR_RES_CGROUP, 0);
}
TEST(clean_runtime_error)
{
    if (armed("clean.runtime=error*3")) clean_error("f-cr", SUPERVISOR_RES_RUNTIME, 0);
}
TEST(clean_hook_error)
{
    if (armed("clean.hook=error*2")) clean_error("f-ch", (supervisor_resource_kind_t)0, 2);
}

/* ---- one delayed entry does not hold up the others --------------------- */

#define FAST 6

/* GC: one entry's umount takes 2 s (failpoint delay); the others (PATH
 * resources) are collected quickly meanwhile. */
TEST(clean_mount_delay_gc)
{
    if (!armed("clean.mount=delay:2000*1")) return;
    setup("f-cmd", false);
    pid_ppid_info_t info = tu_dead_info();
    struct resource slow, fast[FAST];
    make_resource(SUPERVISOR_RES_MOUNT, "slow", &slow);
    ASSERT_OK(supervisor_track_resource("slow", SUPERVISOR_RES_MOUNT, slow.value));
    ASSERT_OK(gc_add_container("slow", "runc", &info));
    char ids[FAST][16];
    for (int i = 0; i < FAST; i++) {
        snprintf(ids[i], sizeof(ids[i]), "fast%d", i);
        make_resource(SUPERVISOR_RES_PATH, ids[i], &fast[i]);
        ASSERT_OK(supervisor_track_resource(ids[i], SUPERVISOR_RES_PATH, fast[i].value));
        ASSERT_OK(gc_add_container(ids[i], "runc", &info));
    }
    long long t0 = tu_now_ms();
    ASSERT_OK(start_gchandler());
    for (int i = 0; i < FAST; i++) expect_gc_done(ids[i], 1500);
    long long fast_ms = tu_now_ms() - t0;
    ASSERT_MSG(tu_events_count(gc_done, "slow") == 0, "slow entry finished in %lld ms despite a 2 s delay", fast_ms);
    expect_gc_done("slow", WAIT_MS);
    long long slow_ms = tu_now_ms() - t0;
    tu_log("fast entries done in %lld ms, delayed entry in %lld ms", fast_ms, slow_ms);
    ASSERT_MSG(slow_ms >= 1900, "delayed entry done after %lld ms", slow_ms);
    ASSERT(resource_gone(&slow));
    for (int i = 0; i < FAST; i++) ASSERT(resource_gone(&fast[i]));
    const char *all[FAST + 1] = { "slow" };
    for (int i = 0; i < FAST; i++) all[i + 1] = ids[i];
    expect_clean_end(all, FAST + 1);
}

/* Exit path: the delayed container's cleanup holds one worker; the others'
 * exits are handled (container_stopped) promptly. */
TEST(clean_mount_delay_exits)
{
    if (!armed("clean.mount=delay:2000*1")) return;
    char *root = setup("f-cmde", false);
    ASSERT_OK(start_gchandler());
    pid_ppid_info_t info = tu_dead_info();
    struct resource slow;
    char *slow_fifo = tu_arm_monitor(root, "slow", &info, "runc");
    make_resource(SUPERVISOR_RES_MOUNT, "slow", &slow);
    ASSERT_OK(supervisor_track_resource("slow", SUPERVISOR_RES_MOUNT, slow.value));
    char ids[FAST][16];
    char *fifos[FAST];
    for (int i = 0; i < FAST; i++) {
        snprintf(ids[i], sizeof(ids[i]), "fastx%d", i);
        fifos[i] = tu_arm_monitor(root, ids[i], &info, "runc");
    }
    long long t0 = tu_now_ms();
    pid_t s = tu_spawn_fake_shim(slow_fifo, 1, sizeof(int));
    pid_t f[FAST];
    for (int i = 0; i < FAST; i++) f[i] = tu_spawn_fake_shim(fifos[i], 10 + i, sizeof(int));
    for (int i = 0; i < FAST; i++) {
        ASSERT_MSG(tu_events_wait(stopped, ids[i], 1, 1500), "%s held up behind the delayed cleanup", ids[i]);
        int pid, code;
        tu_events_last(stopped, ids[i], &pid, &code);
        ASSERT_EQ(code, 10 + i);
    }
    long long fast_ms = tu_now_ms() - t0;
    ASSERT_MSG(tu_events_wait(stopped, "slow", 1, WAIT_MS), "no container_stopped for slow");
    long long slow_ms = tu_now_ms() - t0;
    tu_log("fast exits handled in %lld ms, delayed one in %lld ms", fast_ms, slow_ms);
    ASSERT_MSG(slow_ms >= 1900, "delayed exit handled after %lld ms", slow_ms);
    ASSERT(resource_gone(&slow));
    int st;
    ASSERT(tu_reap(s, WAIT_MS, &st));
    for (int i = 0; i < FAST; i++) {
        ASSERT(tu_reap(f[i], WAIT_MS, &st));
        free(fifos[i]);
    }
    tu_sleep_ms(QUIET_MS);
    ASSERT_EQ(tu_events_total(stopped), FAST + 1);
    ASSERT_EQ(tu_events_total(gc_done), 0); /* all released on the exit path */
    ASSERT_EQ(tu_garbage_count(root), 0);
    free(slow_fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* ---- the FIFO read ------------------------------------------------------ */

/* Injected read errors act like EINTR: the status still arrives exactly once
 * with the right code, for this container and the next ones. */
static void fifo_faults(const char *tag)
{
    char *root = setup(tag, false);
    ASSERT_OK(start_gchandler());
    pid_ppid_info_t info = tu_dead_info();
    const int codes[] = { 42, 0, 255, 137 };
    const size_t nbytes[] = { 4, 4, 4, 2 }; /* the last one: shim killed mid-write → 137 */
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof(id), "fr%d", i);
        char *fifo = tu_arm_monitor(root, id, &info, "runc");
        pid_t shim = tu_spawn_fake_shim(fifo, codes[i], nbytes[i]);
        ASSERT_MSG(tu_events_wait(stopped, id, 1, WAIT_MS), "no container_stopped for %s", id);
        int pid, code;
        tu_events_last(stopped, id, &pid, &code);
        ASSERT_MSG(code == codes[i], "%s: exit code %d, want %d", id, code, codes[i]);
        int st;
        ASSERT(tu_reap(shim, WAIT_MS, &st));
        free(fifo);
    }
    tu_sleep_ms(QUIET_MS);
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof(id), "fr%d", i);
        ASSERT_MSG(tu_events_count(stopped, id) == 1, "%s: %d container_stopped", id, tu_events_count(stopped, id));
        ASSERT_EQ(supervisor_container_state(id), SUPERVISOR_STATE_NONE);
    }
    ASSERT_EQ(tu_garbage_count(root), 0);
    ASSERT_OK(supervisor_shutdown());
}

TEST(fifo_read_error)
{
    if (armed("fifo.read=error*5")) fifo_faults("f-fr");
}
TEST(fifo_read_delay)
{
    if (armed("fifo.read=delay:200*3")) fifo_faults("f-frd");
}

static const tu_case cases[] = {
    TU_CASE(persist_write_error),
    TU_CASE(persist_fsync_error),
    TU_CASE(persist_rename_error),
    TU_CASE(persist_dirsync_error),
    TU_CASE(persist_rename_error_removal),
    TU_CASE(persist_fsync_delay),
    TU_CASE(clean_mount_error),
    TU_CASE(clean_path_error),
    TU_CASE(clean_cgroup_error),
    TU_CASE(clean_runtime_error),
    TU_CASE(clean_hook_error),
    TU_CASE(clean_mount_delay_gc),
    TU_CASE(clean_mount_delay_exits),
    TU_CASE(fifo_read_error),
    TU_CASE(fifo_read_delay),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
