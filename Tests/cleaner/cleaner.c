/* Built-in cleaner cases: tracked resources released when a container exits,
 * kept in GC (and garbage.json) while they cannot be, and released after an
 * engine restart. Every wait is bounded (testutil). Run as root. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define WAIT_MS 10000

static const char *const CG_MEMORY = "/sys/fs/cgroup/memory";
static const char *const CG_UNIFIED = "/sys/fs/cgroup/unified";

/* ---- helpers ------------------------------------------------------------ */

static char *setup(const char *tag)
{
    char *root = tu_setup_root(tag);
    tu_install_recorder(NULL);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    return root;
}


/* Arms a monitor for id (gone processes), lets the tracking callback run,
 * then has a fake shim report exit 0 and waits for container_stopped. */
static void exit_with(const char *root, const char *id, void (*track)(const char *id, void *arg), void *arg)
{
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, id, &info, "runc");
    track(id, arg);
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    ASSERT_MSG(tu_events_wait(tu_stopped, id, 1, WAIT_MS), "no container_stopped for %s", id);
    int st = 0;
    ASSERT_MSG(tu_reap(shim, WAIT_MS, &st), "fake shim did not finish");
    free(fifo);
}

/* Shared helpers: tu_is_mounted, tu_exists (testutil). */
#define is_mounted tu_is_mounted
#define exists tu_exists

static void write_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ASSERT_MSG(fd >= 0, "open %s: %s", path, strerror(errno));
    ASSERT_MSG(write(fd, s, strlen(s)) == (ssize_t)strlen(s), "write %s: %s", path, strerror(errno));
    close(fd);
}

static void mount_tmpfs(const char *path)
{
    tu_mkdir(path);
    ASSERT_MSG(mount("tmpfs", path, "tmpfs", 0, NULL) == 0, "mount tmpfs %s: %s", path, strerror(errno));
}

/* A child whose working directory is dir (so a mount there is busy); it
 * pauses until killed, and dies with this process. Returned once it is in. */
static pid_t spawn_holder(const char *dir)
{
    int p[2];
    ASSERT_OK(pipe2(p, O_CLOEXEC));
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        alarm(120);
        if (chdir(dir) != 0) _exit(3);
        if (write(p[1], "x", 1) != 1) _exit(4);
        for (;;) pause();
    }
    close(p[1]);
    struct pollfd pfd = { .fd = p[0], .events = POLLIN };
    ASSERT_MSG(poll(&pfd, 1, WAIT_MS) == 1, "holder did not start");
    char c;
    ASSERT_MSG(read(p[0], &c, 1) == 1, "holder failed to enter %s", dir);
    close(p[0]);
    return pid;
}

static void kill_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    int st;
    ASSERT(tu_reap(pid, WAIT_MS, &st));
}

static bool in_gc(void *arg) { return supervisor_container_state((const char *)arg) == SUPERVISOR_STATE_GC; }

/* The resource entry (kind, value) of id in garbage.json, with its busy count. */
static bool garbage_resource(const char *root, const char *id, const char *kind, const char *value, long long *busy)
{
    yajl_val tree = tu_garbage_load(root);
    if (!tree) return false;
    bool found = false;
    yajl_val entry = tu_garbage_entry(tree, id);
    yajl_val list = entry ? tu_json_get(entry, "supervisor_resources") : NULL;
    if (list && YAJL_IS_ARRAY(list)) {
        for (size_t i = 0; i < list->u.array.len && !found; i++) {
            yajl_val r = list->u.array.values[i];
            const char *k = tu_json_str(r, "kind"), *v = tu_json_str(r, "value");
            if (k && v && strcmp(k, kind) == 0 && strcmp(v, value) == 0) {
                found = true;
                yajl_val b = tu_json_get(r, "busy");
                if (busy) *busy = (b && YAJL_IS_INTEGER(b)) ? YAJL_GET_INTEGER(b) : 0;
            }
        }
    }
    yajl_tree_free(tree);
    return found;
}

struct busy_probe {
    const char *root, *id, *value;
};

static bool busy_recorded(void *arg)
{
    struct busy_probe *p = arg;
    long long busy = 0;
    return garbage_resource(p->root, p->id, "mount", p->value, &busy) && busy >= 2;
}

static void track_one(const char *id, void *arg)
{
    const char *const *kv = arg;  /* { kind as "1".."4", value } */
    ASSERT_OK(supervisor_track_resource(id, (supervisor_resource_kind_t)atoi(kv[0]), kv[1]));
}

/* ---- cases -------------------------------------------------------------- */

/* A tmpfs tracked as MOUNT is unmounted at exit; the container is released. */
TEST(cleaner_tmpfs)
{
    char *root = setup("cl-tmpfs");
    char *mnt = tu_path_join(tu_mkdtemp("cl-tmpfs-m"), "m");
    mount_tmpfs(mnt);
    const char *kv[] = { "2", mnt };
    exit_with(root, "c-tmpfs", track_one, kv);
    ASSERT_MSG(!is_mounted(mnt), "%s still mounted", mnt);
    ASSERT_EQ(supervisor_container_state("c-tmpfs"), SUPERVISOR_STATE_NONE);
    ASSERT_OK(supervisor_shutdown());
    free(mnt);
}

/* A busy mount keeps the container in GC (busy count saved) until the
 * process holding it is gone; then gc_done. */
TEST(cleaner_busy_mount)
{
    char *root = tu_setup_root("cl-busy");
    ASSERT_OK(supervisor_set_option("mount_detach_after", "1000000"));
    tu_install_recorder(NULL);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    char *mnt = tu_path_join(tu_mkdtemp("cl-busy-m"), "m");
    mount_tmpfs(mnt);
    pid_t holder = spawn_holder(mnt);
    const char *kv[] = { "2", mnt };
    exit_with(root, "c-busy", track_one, kv);
    ASSERT_MSG(tu_poll_until(in_gc, "c-busy", WAIT_MS), "c-busy not in GC");
    struct busy_probe probe = { root, "c-busy", mnt };
    ASSERT_MSG(tu_poll_until(busy_recorded, &probe, WAIT_MS), "no busy count in garbage.json");
    ASSERT(is_mounted(mnt));
    ASSERT_EQ(tu_events_count(tu_gc_done, "c-busy"), 0);
    kill_reap(holder);
    ASSERT_MSG(tu_events_wait(tu_gc_done, "c-busy", 1, WAIT_MS), "no gc_done after the holder died");
    ASSERT(!is_mounted(mnt));
    ASSERT_EQ(supervisor_container_state("c-busy"), SUPERVISOR_STATE_NONE);
    ASSERT_EQ(tu_garbage_count_id(root, "c-busy"), 0);
    ASSERT_OK(supervisor_shutdown());
    free(mnt);
}

/* After mount_detach_after busy attempts the mount is detached lazily,
 * with a warning, although its holder is still there. */
TEST(cleaner_detach_after)
{
    char *root = tu_setup_root("cl-detach");
    ASSERT_OK(supervisor_set_option("mount_detach_after", "2"));
    tu_install_recorder(NULL);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    char *mnt = tu_path_join(tu_mkdtemp("cl-detach-m"), "m");
    mount_tmpfs(mnt);
    pid_t holder = spawn_holder(mnt);
    const char *kv[] = { "2", mnt };
    exit_with(root, "c-detach", track_one, kv);
    if (supervisor_container_state("c-detach") == SUPERVISOR_STATE_GC)
        ASSERT_MSG(tu_events_wait(tu_gc_done, "c-detach", 1, WAIT_MS), "never detached");
    ASSERT(!is_mounted(mnt));
    ASSERT_MSG(tu_events_count(tu_logs, "4") >= 1, "no warning logged for the lazy detach");
    ASSERT(tu_proc_running(holder));
    kill_reap(holder);
    ASSERT_OK(supervisor_shutdown());
    free(mnt);
}

struct cg_arg {
    char name[128];
    pid_t member;
};

static void track_cgroup(const char *id, void *arg)
{
    struct cg_arg *a = arg;
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_CGROUP, a->name));
}

/* A cgroup in the v1 memory hierarchy and in v2, each with a nested child
 * holding a live process: the process is killed, all of it removed. */
TEST(cleaner_cgroups)
{
    char *root = setup("cl-cgroup");
    struct cg_arg a;
    snprintf(a.name, sizeof(a.name), "cleaner-ctest-%d", (int)getpid());
    const char *hier[] = { CG_MEMORY, CG_UNIFIED };
    a.member = tu_spawn_paused();
    for (int i = 0; i < 2; i++) {
        char dir[PATH_MAX / 2], procs[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/%s", hier[i], a.name);
        ASSERT_OK(mkdir(dir, 0755));
        snprintf(dir, sizeof(dir), "%s/%s/inner", hier[i], a.name);
        ASSERT_OK(mkdir(dir, 0755));
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
        char pid[32];
        snprintf(pid, sizeof(pid), "%d", (int)a.member);
        write_str(procs, pid);
    }
    exit_with(root, "c-cgroup", track_cgroup, &a);
    ASSERT_EQ(supervisor_container_state("c-cgroup"), SUPERVISOR_STATE_NONE);
    for (int i = 0; i < 2; i++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/%s", hier[i], a.name);
        ASSERT_MSG(!exists(dir), "%s still exists", dir);
    }
    ASSERT_MSG(!tu_proc_running(a.member), "the process in the cgroup survived");
    ASSERT_OK(supervisor_shutdown());
}

struct tree_arg {
    char *tree, *outside_file;
};

static void track_tree(const char *id, void *arg)
{
    struct tree_arg *a = arg;
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, a->tree));
}

/* A tree holding symlinks to a file outside and to /: the tree is gone,
 * what the links point to is intact. */
TEST(cleaner_path_symlinks)
{
    char *root = setup("cl-path");
    char *base = tu_mkdtemp("cl-path-t");
    struct tree_arg a = { tu_path_join(base, "tree"), tu_path_join(base, "outside") };
    tu_write_file(a.outside_file, "keep", 4);
    tu_mkdir(a.tree);
    char *sub = tu_path_join(a.tree, "sub");
    tu_mkdir(sub);
    char *f = tu_path_join(sub, "f");
    tu_write_file(f, "x", 1);
    char *l1 = tu_path_join(sub, "to-outside"), *l2 = tu_path_join(a.tree, "to-root");
    ASSERT_OK(symlink(a.outside_file, l1));
    ASSERT_OK(symlink("/", l2));
    exit_with(root, "c-path", track_tree, &a);
    ASSERT_EQ(supervisor_container_state("c-path"), SUPERVISOR_STATE_NONE);
    ASSERT_MSG(!exists(a.tree), "%s still exists", a.tree);
    ASSERT(exists(a.outside_file));
    ASSERT(exists("/etc/passwd"));
    ASSERT_OK(supervisor_shutdown());
}

/* A bind mount of a host directory inside a tracked PATH is not descended
 * into: the host content is intact, the container waits in GC until the
 * bind mount is gone. */
TEST(cleaner_bind_mount_inside)
{
    char *root = setup("cl-bind");
    char *base = tu_mkdtemp("cl-bind-t");
    char *host = tu_path_join(base, "host");
    tu_mkdir(host);
    char *data = tu_path_join(host, "data");
    tu_write_file(data, "host", 4);
    struct tree_arg a = { tu_path_join(base, "tree"), NULL };
    tu_mkdir(a.tree);
    char *mp = tu_path_join(a.tree, "bind");
    tu_mkdir(mp);
    ASSERT_MSG(mount(host, mp, NULL, MS_BIND, NULL) == 0, "bind mount: %s", strerror(errno));
    exit_with(root, "c-bind", track_tree, &a);
    ASSERT_EQ(supervisor_container_state("c-bind"), SUPERVISOR_STATE_GC);
    ASSERT_MSG(exists(data), "host data behind a bind mount was removed");
    ASSERT_OK(umount2(mp, 0));
    ASSERT_MSG(tu_events_wait(tu_gc_done, "c-bind", 1, WAIT_MS), "no gc_done after the unmount");
    ASSERT(!exists(a.tree));
    ASSERT(exists(data));
    ASSERT_OK(supervisor_shutdown());
}

/* RUNTIME: runc --root <dir> delete --force <id> of a container runc does
 * not know is done. */
TEST(cleaner_runtime)
{
    char *root = setup("cl-runtime");
    char *state = tu_mkdtemp("cl-runtime-state");
    const char *kv[] = { "4", state };
    exit_with(root, "c-runtime", track_one, kv);
    ASSERT_EQ(supervisor_container_state("c-runtime"), SUPERVISOR_STATE_NONE);
    ASSERT_OK(supervisor_shutdown());
}

/* Release order is the reverse of tracking: a mount tracked after the PATH
 * that contains it is unmounted first, so the PATH can then be removed. */
static void track_order(const char *id, void *arg)
{
    char **v = arg;
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_PATH, v[0]));
    ASSERT_OK(supervisor_track_resource(id, SUPERVISOR_RES_MOUNT, v[1]));
}

TEST(cleaner_order)
{
    char *root = setup("cl-order");
    char *tree = tu_path_join(tu_mkdtemp("cl-order-t"), "rootfs");
    tu_mkdir(tree);
    char *mnt = tu_path_join(tree, "proc-like");
    mount_tmpfs(mnt);
    char *in = tu_path_join(mnt, "x");
    tu_write_file(in, "x", 1);
    char *v[] = { tree, mnt };
    exit_with(root, "c-order", track_order, v);
    ASSERT_EQ(supervisor_container_state("c-order"), SUPERVISOR_STATE_NONE);
    ASSERT(!is_mounted(mnt));
    ASSERT(!exists(tree));
    ASSERT_OK(supervisor_shutdown());
}

/* Bad values are refused at tracking time. */
TEST(cleaner_bad_values)
{
    char *root = setup("cl-bad");
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, "c-bad", &info, "runc");
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_MOUNT, "relative/m"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_PATH, "tmp/x"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_RUNTIME, "run/runc"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_CGROUP, "/sys/fs/cgroup/x"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_PATH, "/"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_PATH, "//./"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_PATH, "/tmp/../etc"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_CGROUP, "a/../.."), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_CGROUP, "."), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_PATH, ""), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_PATH, NULL), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_PATH, "/tmp/a\nb"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c-bad", (supervisor_resource_kind_t)9, "/tmp/x"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("../x", SUPERVISOR_RES_PATH, "/tmp/x"), EINVAL);
    char *longv = malloc(PATH_MAX + 1);
    ASSERT(longv != NULL);
    longv[0] = '/';
    memset(longv + 1, 'a', PATH_MAX - 1);
    longv[PATH_MAX] = '\0';
    ASSERT_FAILS(supervisor_track_resource("c-bad", SUPERVISOR_RES_PATH, longv), ENAMETOOLONG);
    free(longv);
    ASSERT_OK(supervisor_track_resource("c-bad", SUPERVISOR_RES_PATH, "/tmp/cleaner-never-created"));
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* Tracked resources survive an engine restart: phase 1 leaves a busy mount
 * in GC and shuts down; phase 2 (a fresh process) restores and releases it
 * once its holder (a child of this process) is gone. */
static const char *env_or_fail(const char *key)
{
    const char *v = getenv(key);
    ASSERT_MSG(v != NULL, "%s not set", key);
    return v;
}

static void restart_options(const char *root)
{
    ASSERT_OK(supervisor_set_option("root_dir", root));
    ASSERT_OK(supervisor_set_option("gc_retry_initial_ms", "10"));
    ASSERT_OK(supervisor_set_option("gc_retry_max_ms", "200"));
    ASSERT_OK(supervisor_set_option("mount_detach_after", "1000000"));
}

TEST(cleaner_restart_phase1)
{
    const char *root = env_or_fail("CLEANER_ROOT"), *mnt = env_or_fail("CLEANER_MNT");
    restart_options(root);
    tu_install_recorder(NULL);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    const char *kv[] = { "2", mnt };
    exit_with(root, "c-restart", track_one, kv);
    ASSERT_EQ(supervisor_container_state("c-restart"), SUPERVISOR_STATE_GC);
    ASSERT_OK(supervisor_shutdown());
}

TEST(cleaner_restart_phase2)
{
    const char *root = env_or_fail("CLEANER_ROOT"), *mnt = env_or_fail("CLEANER_MNT");
    restart_options(root);
    tu_install_recorder(NULL);
    ASSERT_OK(new_gchandler());
    ASSERT_EQ(supervisor_container_state("c-restart"), SUPERVISOR_STATE_GC);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(start_gchandler());
    ASSERT_MSG(tu_events_wait(tu_gc_done, "c-restart", 1, WAIT_MS), "restored mount never released");
    ASSERT(!is_mounted(mnt));
    ASSERT_EQ(tu_garbage_count_id(root, "c-restart"), 0);
    ASSERT_OK(supervisor_shutdown());
}

static void run_phase(const char *phase, const char *root, const char *mnt)
{
    char *e1 = NULL, *e2 = NULL;
    ASSERT(asprintf(&e1, "CLEANER_ROOT=%s", root) > 0 && asprintf(&e2, "CLEANER_MNT=%s", mnt) > 0);
    const char *extra[] = { e1, e2, NULL };
    pid_t p = tu_spawn_self(phase, extra);
    int st = 0;
    ASSERT_MSG(tu_reap(p, 30000, &st), "%s did not finish", phase);
    ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed: wait status 0x%x", phase, st);
    free(e1);
    free(e2);
}

TEST(cleaner_restart)
{
    char *root = tu_mkdtemp("cl-restart");
    char *mnt = tu_path_join(tu_mkdtemp("cl-restart-m"), "m");
    mount_tmpfs(mnt);
    pid_t holder = spawn_holder(mnt);
    run_phase("cleaner_restart_phase1", root, mnt);
    ASSERT_MSG(garbage_resource(root, "c-restart", "mount", mnt, NULL), "the mount is not saved in garbage.json");
    ASSERT(is_mounted(mnt));
    kill_reap(holder);
    run_phase("cleaner_restart_phase2", root, mnt);
    ASSERT(!is_mounted(mnt));
}

static const tu_case cases[] = {
    TU_CASE(cleaner_tmpfs),          TU_CASE(cleaner_busy_mount),   TU_CASE(cleaner_detach_after),
    TU_CASE(cleaner_cgroups),        TU_CASE(cleaner_path_symlinks), TU_CASE(cleaner_bind_mount_inside),
    TU_CASE(cleaner_runtime),        TU_CASE(cleaner_order),        TU_CASE(cleaner_bad_values),
    TU_CASE(cleaner_restart),        TU_CASE(cleaner_restart_phase1), TU_CASE(cleaner_restart_phase2),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
