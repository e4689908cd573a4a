/*
 * OOM kills reported through container_oom (issue 14), with real runc
 * containers started by the real isulad-shim, a 16 MiB memory limit and
 * busybox `tail /dev/zero` (it buffers an endless line) as the allocator:
 *
 *   oom_kill_reported   20 containers OOM-killed: each gets container_oom(id,
 *                       >= 1) and then container_stopped(id, pid, 137), in that
 *                       order; tracked before and after arming, alternately.
 *   oom_before_arm      OOM-killed and exited before the monitor is armed (cgroup
 *                       tracked before arming): reported at arm, before the stop.
 *   oom_before_arm_alive  a child OOM-killed before arming, init alive, cgroup
 *                       tracked after arming: reported then, while RUNNING.
 *   oom_child_survives  two children OOM-killed while init lives: container_oom
 *                       1 then 2 while RUNNING, status shows oom_kills 2, no
 *                       new report at the SIGKILL that ends it.
 *   sigkill_no_oom      SIGKILL without an OOM: no container_oom (status 0).
 *   cgroup_removed_first  the watched cgroup is rmdir'ed before the exit is
 *                       handled: no crash, no event, a debug line naming it.
 *   old_ops_size        an ops struct of the 1.0 size is accepted (nothing past
 *                       it is read: guard page; canary hook never called).
 *   v2_oom_kill         the same through memory.events where a v2 memory
 *                       controller exists (skipped otherwise, reason printed).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"
#include "events.h"

#define QUIET_MS 300
#define TAIL_ZERO "[\"/bin/tail\",\"/dev/zero\"]"

static char *setup(const char *tag, bool with_oom)
{
    ct_require();
    char *root = tu_setup_root(tag);
    ev_install(with_oom);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    return root;
}

/* container_oom(id, >= 1) before container_stopped(id, pid, 137); returns
 * a description of what went wrong, NULL when right. */
static const char *oom_then_stopped(const ct *c, char *why, size_t len)
{
    if (!ev_wait(EV_STOPPED, c->id, 1, CT_WAIT_MS)) return "no container_stopped";
    ev st, last;
    ev_get(ev_first(EV_STOPPED, c->id), &st);
    int fo = ev_first(EV_OOM, c->id), lo = ev_last(EV_OOM, c->id);
    if (st.code != 137 || st.pid != c->info.pid) {
        snprintf(why, len, "container_stopped(pid %d, code %d), want (%d, 137)", st.pid, st.code, c->info.pid);
        return why;
    }
    if (fo < 0) {
        snprintf(why, len, "no container_oom before container_stopped (cgroup oom_kill was %lld)",
                 ct_oom_kill_count(c));
        return why;
    }
    if (lo > ev_first(EV_STOPPED, c->id)) return "a container_oom came after container_stopped";
    ev_get(lo, &last);
    if (last.oom_kills < 1) return "container_oom reported 0 kills";
    return NULL;
}

/* ------------------------------------------------------------------------ */

TEST(oom_kill_reported)
{
    setup("oom-reported", true);
    const int reps = 20;
    int misses = 0;
    char first_miss[512] = "";
    long long t0 = tu_now_ms();
    for (int i = 0; i < reps; i++) {
        ct *c = ct_create(TAIL_ZERO, MEM_LIMIT);
        /* Both orders of the README: tracked before or after arming. */
        if (i % 2) { ct_track(c); ct_arm(c); }
        else { ct_arm(c); ct_track(c); }
        ct_start(c);
        char why[256];
        const char *bad = oom_then_stopped(c, why, sizeof why);
        CHECK_MSG(ev_count(EV_STOPPED, c->id) == 1, "%s: container_stopped never came", c->id);
        if (bad != NULL) {
            if (misses++ == 0) snprintf(first_miss, sizeof first_miss, "%s (run %d): %s", c->id, i, bad);
            tu_log("MISS %s (run %d): %s", c->id, i, bad);
        }
        /* The counter was read before the cleaner removed the cgroup. */
        CHECK_MSG(!ct_memcg_exists(c), "%s: cgroup %s not removed by the cleaner", c->id, c->cgroup);
        ct_finish(c);
    }
    if (misses) ev_dump();
    CHECK_MSG(misses == 0, "%d of %d OOM kills not reported in order; first: %s", misses, reps, first_miss);
    tu_log("%d OOM kills reported in order in %lld ms", reps, tu_now_ms() - t0);
    ASSERT_OK(supervisor_shutdown());
}

typedef struct { const ct *c; long long want; } kills_arg;

static bool memcg_kills_reached(void *p)
{
    kills_arg *a = p;
    return ct_oom_kill_count(a->c) >= a->want;
}

static bool init_gone(void *p) { return !tu_proc_running(((const ct *)p)->info.pid); }

TEST(oom_before_arm)
{
    setup("oom-before", true);
    /* OOM-killed and exited before arming (the status waits in the FIFO);
     * tracked before arming too. The shim's `runc delete` fails (failpoint),
     * so the cgroup, and its counter, are still there at arming, as when a
     * runtime's delete fails or lags: the library's RUNTIME release deletes
     * it. (When the shim's delete succeeds, runc removes the cgroup with
     * the container and a kill before arming cannot be counted any more:
     * oom_before_arm_alive covers a cgroup that is still in use.) */
    ct_shim_failpoints = "shim.runtime.delete=error";
    ct *a = ct_create(TAIL_ZERO, MEM_LIMIT);
    ct_shim_failpoints = NULL;
    ct_start(a);
    kills_arg ka = { a, 1 };
    CHECK_MSG(tu_poll_until(memcg_kills_reached, &ka, CT_WAIT_MS), "%s: no OOM kill in its cgroup", a->id);
    CHECK_MSG(tu_poll_until(init_gone, a, CT_WAIT_MS), "%s: init still alive", a->id);
    int st;
    CHECK_MSG(tu_reap(a->shim, CT_WAIT_MS, &st), "%s: the shim did not exit", a->id);
    a->shim = 0;   /* the status waits in the FIFO the test holds open */
    ct_track(a);
    ct_arm(a);
    char why[256];
    const char *bad = oom_then_stopped(a, why, sizeof why);
    if (bad) ev_dump();
    CHECK_MSG(bad == NULL, "%s (killed before arm, exit pending): %s", a->id, bad);
    ct_finish(a);
    ASSERT_OK(supervisor_shutdown());
}

TEST(oom_before_arm_alive)
{
    setup("oom-before-alive", true);
    /* A child OOM-killed before arming, init alive; tracked after arming. */
    ct *b = ct_create("[\"/bin/sh\",\"-c\",\"tail /dev/zero; sleep 120\"]", MEM_LIMIT);
    ct_start(b);
    kills_arg kb = { b, 1 };
    CHECK_MSG(tu_poll_until(memcg_kills_reached, &kb, CT_WAIT_MS), "%s: no OOM kill in its cgroup", b->id);
    ct_arm(b);
    ct_track(b);
    CHECK_MSG(ev_wait(EV_OOM, b->id, 1, CT_WAIT_MS), "%s: OOM kill before arming not reported when tracked",
              b->id);
    ev e;
    ev_get(ev_first(EV_OOM, b->id), &e);
    CHECK_MSG(e.oom_kills == 1, "%s: container_oom(%llu), want 1", b->id, e.oom_kills);
    CHECK_MSG(e.state == SUPERVISOR_STATE_RUNNING, "%s: state %d in container_oom, want RUNNING", b->id, e.state);
    ct_kill(b, "KILL");
    CHECK_MSG(ev_wait(EV_STOPPED, b->id, 1, CT_WAIT_MS), "%s: no container_stopped", b->id);
    tu_sleep_ms(QUIET_MS);
    CHECK_MSG(ev_count(EV_OOM, b->id) == 1, "%s: %d container_oom, want 1 (no new kill)", b->id,
              ev_count(EV_OOM, b->id));
    ct_finish(b);
    ASSERT_OK(supervisor_shutdown());
}

TEST(oom_child_survives)
{
    setup("oom-child", true);
    ct *c = ct_create("[\"/bin/sh\",\"-c\",\"tail /dev/zero; tail /dev/zero; sleep 120\"]", MEM_LIMIT);
    ct_arm(c);
    ct_track(c);
    ct_start(c);
    bool got = ev_wait_oom_kills(c->id, 2, CT_WAIT_MS);
    if (!got) ev_dump();
    CHECK_MSG(got, "%s: no container_oom(2) (cgroup oom_kill %lld)", c->id, ct_oom_kill_count(c));
    CHECK_MSG(tu_proc_running(c->info.pid), "%s: init %d died", c->id, c->info.pid);
    ev e;
    unsigned long long prev = 0;
    for (int i = 0; ev_get(i, &e); i++) {
        if (e.kind != EV_OOM || strcmp(e.id, c->id) != 0) continue;
        CHECK_MSG(e.state == SUPERVISOR_STATE_RUNNING, "container_oom(%llu) in state %d, want RUNNING",
                  e.oom_kills, e.state);
        CHECK_MSG(e.oom_kills > prev, "container_oom(%llu) after %llu: not growing", e.oom_kills, prev);
        prev = e.oom_kills;
    }
    CHECK_MSG(ct_oom_kill_count(c) == 2, "cgroup oom_kill %lld, want 2", ct_oom_kill_count(c));
    CHECK(supervisor_container_state(c->id) == SUPERVISOR_STATE_RUNNING);
    long long sk = status_oom_kills(c->id);
    CHECK_MSG(sk == 2, "status monitors[].oom_kills = %lld, want 2 (-1 missing, -2 no monitor)", sk);
    int before = ev_count(EV_OOM, c->id);
    ct_kill(c, "KILL");
    CHECK_MSG(ev_wait(EV_STOPPED, c->id, 1, CT_WAIT_MS), "%s: no container_stopped", c->id);
    tu_sleep_ms(QUIET_MS);
    CHECK_MSG(ev_count(EV_OOM, c->id) == before, "container_oom at a SIGKILL without a new OOM kill");
    ev s;
    ev_get(ev_first(EV_STOPPED, c->id), &s);
    CHECK_MSG(s.code == 137, "container_stopped code %d, want 137", s.code);
    ct_finish(c);
    ASSERT_OK(supervisor_shutdown());
}

static bool status_watch_up(void *id) { return status_oom_kills((const char *)id) >= 0; }

TEST(sigkill_no_oom)
{
    setup("oom-sigkill", true);
    ct *c = ct_create("[\"/bin/sleep\",\"120\"]", MEM_LIMIT);
    ct_arm(c);
    ct_track(c);
    ct_start(c);
    CHECK_MSG(tu_poll_until(status_watch_up, c->id, 5000), "%s: no oom_kills in the status monitors[] (%lld)",
              c->id, status_oom_kills(c->id));
    CHECK_MSG(status_oom_kills(c->id) == 0, "oom_kills %lld, want 0", status_oom_kills(c->id));
    ct_kill(c, "KILL");
    CHECK_MSG(ev_wait(EV_STOPPED, c->id, 1, CT_WAIT_MS), "%s: no container_stopped", c->id);
    tu_sleep_ms(QUIET_MS);
    CHECK_MSG(ev_count(EV_OOM, c->id) == 0, "%d container_oom for a SIGKILL without OOM", ev_count(EV_OOM, c->id));
    ev s;
    ev_get(ev_first(EV_STOPPED, c->id), &s);
    CHECK_MSG(s.code == 137, "container_stopped code %d, want 137", s.code);
    ct_finish(c);
    ASSERT_OK(supervisor_shutdown());
}

TEST(cgroup_removed_first)
{
    char *root = setup("oom-rmdir", true);
    ASSERT_OK(supervisor_set_option("log_level", "debug"));
    char rel[64], path[128];
    snprintf(rel, sizeof rel, "sup-oom-%d-rm", (int)getpid());
    snprintf(path, sizeof path, "/sys/fs/cgroup/memory/%s", rel);
    CHECK_MSG(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
    const char *id = "oom-rmdir";
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, id, &info, "runc");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_CGROUP, rel));
    bool up = tu_poll_until(status_watch_up, (void *)id, 5000);
    if (!up) rmdir(path);
    CHECK_MSG(up, "no oom_kills for %s in the status (watch not started)", id);
    /* Lines naming the cgroup so far (the watch's start) are not the one. */
    int before = ev_log_matches(7, rel, NULL, "released");
    /* v1 signals the eventfd when the cgroup goes away: the watch sees it. */
    CHECK_MSG(rmdir(path) == 0, "rmdir %s: %s", path, strerror(errno));
    tu_sleep_ms(QUIET_MS);
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    CHECK_MSG(ev_wait(EV_STOPPED, id, 1, CT_WAIT_MS), "no container_stopped after the cgroup was removed");
    tu_sleep_ms(QUIET_MS);
    CHECK_MSG(ev_count(EV_OOM, id) == 0, "container_oom for a removed cgroup");
    ev s;
    ev_get(ev_first(EV_STOPPED, id), &s);
    CHECK_MSG(s.code == 0, "container_stopped code %d, want 0", s.code);
    CHECK_MSG(supervisor_container_state(id) == SUPERVISOR_STATE_NONE && tu_garbage_count(root) == 0,
              "state %d, %d GC entries: the gone cgroup counts as released", supervisor_container_state(id),
              tu_garbage_count(root));
    /* A debug line about the watch of the removed cgroup (the cleaner's
     * "released" line aside); nothing at warning or above. */
    int lines = ev_log_matches(7, rel, NULL, "released") - before;
    CHECK_MSG(lines >= 1, "no debug line naming %s once it was removed", rel);
    CHECK_MSG(ev_log_matches(4, rel, NULL, NULL) == 0, "a warning or error about the removed %s", rel);
    int st;
    CHECK(tu_reap(shim, CT_WAIT_MS, &st));
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* ---- the 1.0 struct ------------------------------------------------------ */

static atomic_int canary_calls;
static void canary_oom(void *ctx, const char *id, unsigned long long n)
{
    (void)ctx; (void)id; (void)n;
    atomic_fetch_add(&canary_calls, 1);
}

TEST(old_ops_size)
{
    setup("oom-oldops", true);
    const size_t v10 = offsetof(supervisor_engine_ops_t, container_oom);
    supervisor_engine_ops_t ops;
    ev_fill_ops(&ops, false);
    ops.struct_size = v10;

    /* Nothing past struct_size is read: the struct ends where a PROT_NONE
     * page begins. */
    long page = sysconf(_SC_PAGESIZE);
    char *pages = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(pages != MAP_FAILED);
    CHECK(mprotect(pages + page, (size_t)page, PROT_NONE) == 0);
    char *at = pages + page - v10;
    memcpy(at, &ops, v10);
    ASSERT_OK(supervisor_set_engine_ops((const supervisor_engine_ops_t *)at));

    /* And never called: a canary hook right after the 1.0 struct. */
    ops.container_oom = canary_oom;
    ASSERT_OK(supervisor_set_engine_ops(&ops));
    ct *c = ct_create(TAIL_ZERO, MEM_LIMIT);
    ct_arm(c);
    ct_track(c);
    ct_start(c);
    CHECK_MSG(ev_wait(EV_STOPPED, c->id, 1, CT_WAIT_MS), "%s: no container_stopped with the 1.0 struct", c->id);
    ev s;
    ev_get(ev_first(EV_STOPPED, c->id), &s);
    CHECK_MSG(s.code == 137, "container_stopped code %d, want 137", s.code);
    CHECK_MSG(ct_oom_kill_count(c) != 0, "the container was not OOM-killed");
    tu_sleep_ms(QUIET_MS);
    CHECK_MSG(atomic_load(&canary_calls) == 0, "container_oom read past the 1.0 struct_size (%d calls)",
              atomic_load(&canary_calls));
    ct_finish(c);

    /* The same container with the 1.1 struct: reported (the canary was live). */
    ev_install(true);
    ct *d = ct_create(TAIL_ZERO, MEM_LIMIT);
    ct_arm(d);
    ct_track(d);
    ct_start(d);
    char why[256];
    const char *bad = oom_then_stopped(d, why, sizeof why);
    CHECK_MSG(bad == NULL, "%s with the 1.1 struct: %s", d->id, bad);
    ct_finish(d);
    CHECK(atomic_load(&canary_calls) == 0);
    munmap(pages, (size_t)page * 2);
    ASSERT_OK(supervisor_shutdown());
}

/* ---- cgroup v2 ----------------------------------------------------------- */

/* Mount point of the cgroup2 hierarchy, or "" when none. */
static void v2_mount(char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char mnt[1024], fstype[64];
        char *sep = strstr(line, " - ");
        if (!sep || sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2") != 0) continue;
        if (sscanf(line, "%*d %*d %*s %*s %1023s", mnt) == 1) { snprintf(out, len, "%s", mnt); break; }
    }
    fclose(f);
}

static bool has_word(const char *path, const char *word)
{
    char *t = tu_read_file(path, NULL);
    if (!t) return false;
    bool found = false;
    for (char *save = NULL, *w = strtok_r(t, " \n", &save); w && !found; w = strtok_r(NULL, " \n", &save))
        found = strcmp(w, word) == 0;
    free(t);
    return found;
}

static void skip(const char *why)
{
    printf("SKIP: %s\n", why);
    fprintf(stderr, "[%s] SKIP: %s\n", tu_case_name(), why);
    tu_cleanup();
    _exit(77);
}

static void write_str(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    CHECK_MSG(fd >= 0, "open %s: %s", path, strerror(errno));
    CHECK_MSG(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write %s: %s", path, strerror(errno));
    close(fd);
}

TEST(v2_oom_kill)
{
    char mnt[1024], p[1400], why[1600];
    v2_mount(mnt, sizeof mnt);
    if (!mnt[0]) skip("no cgroup2 hierarchy mounted");
    snprintf(p, sizeof p, "%s/cgroup.controllers", mnt);
    if (!has_word(p, "memory")) {
        snprintf(why, sizeof why, "no v2 memory controller (%s has no \"memory\"; it is on v1 here)", p);
        skip(why);
    }
    snprintf(p, sizeof p, "%s/cgroup.subtree_control", mnt);
    if (!has_word(p, "memory")) {
        snprintf(why, sizeof why, "memory not enabled for children of %s (cgroup.subtree_control)", mnt);
        skip(why);
    }
    if (geteuid() != 0) skip("needs root");
    char *root = tu_setup_root("oom-v2");
    ev_install(true);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());

    char rel[64], dir[1200], procs[1400];
    snprintf(rel, sizeof rel, "sup-oom-%d-v2", (int)getpid());
    snprintf(dir, sizeof dir, "%s/%s", mnt, rel);
    CHECK_MSG(mkdir(dir, 0755) == 0, "mkdir %s: %s", dir, strerror(errno));
    snprintf(p, sizeof p, "%s/memory.max", dir);
    write_str(p, "16777216");
    snprintf(p, sizeof p, "%s/memory.swap.max", dir);
    if (access(p, W_OK) == 0) write_str(p, "0");
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);

    /* The "container": a child that joins the cgroup, then allocates. */
    int go[2];
    CHECK(pipe2(go, O_CLOEXEC) == 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        char b;
        if (read(go[0], &b, 1) != 1) _exit(90);
        int fd = open(procs, O_WRONLY);
        if (fd < 0 || write(fd, "0", 1) != 1) _exit(91);
        close(fd);
        execl("/bin/busybox", "tail", "/dev/zero", (char *)NULL);
        _exit(92);
    }
    close(go[0]);
    pid_ppid_info_t info = tu_dead_info();
    info.pid = child;
    CHECK(tu_proc_start_time(child, &info.start_time));
    const char *id = "oom-v2";
    char *fifo = tu_arm_monitor(root, id, &info, "runc");
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_CGROUP, rel));
    CHECK(write(go[1], "x", 1) == 1);
    close(go[1]);
    int st = 0;
    bool reaped = tu_reap(child, CT_WAIT_MS, &st);
    if (!reaped) { kill(child, SIGKILL); waitpid(child, NULL, 0); }
    CHECK_MSG(reaped && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the child was not OOM-killed (0x%x)", st);
    CHECK_MSG(ev_wait(EV_OOM, id, 1, CT_WAIT_MS), "no container_oom through memory.events");
    ev e;
    ev_get(ev_first(EV_OOM, id), &e);
    CHECK_MSG(e.oom_kills >= 1 && e.state == SUPERVISOR_STATE_RUNNING, "container_oom(%llu) in state %d",
              e.oom_kills, e.state);
    pid_t shim = tu_spawn_fake_shim(fifo, 137, sizeof(int));
    CHECK_MSG(ev_wait(EV_STOPPED, id, 1, CT_WAIT_MS), "no container_stopped");
    CHECK(ev_last(EV_OOM, id) < ev_first(EV_STOPPED, id));
    CHECK(tu_reap(shim, CT_WAIT_MS, &st));
    rmdir(dir);
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

static const tu_case cases[] = {
    TU_CASE(oom_kill_reported),
    TU_CASE(oom_before_arm),
    TU_CASE(oom_before_arm_alive),
    TU_CASE(oom_child_survives),
    TU_CASE(sigkill_no_oom),
    TU_CASE(cgroup_removed_first),
    TU_CASE(old_ops_size),
    TU_CASE(v2_oom_kill),
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    return TU_MAIN(argc, argv, cases);
}
