/* GC: clean failure → GC list → gc_done, durability, restore, restart,
 * damaged and iSulad-written garbage.json. */
#include "harness.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Checks the iSulad keys of a garbage.json entry. */
static void expect_entry(yajl_val tree, const char *id, const char *runtime, const pid_ppid_info_t *info)
{
    yajl_val e = tu_garbage_entry(tree, id);
    ASSERT_MSG(e != NULL, "garbage.json has no entry for %s", id);
    ASSERT_STREQ(tu_json_str(e, "runtime"), runtime);
    ASSERT_EQ(tu_json_int(e, "pid"), info->pid);
    ASSERT_EQ(tu_json_int(e, "StartTime"), (long long)info->start_time);
    ASSERT_EQ(tu_json_int(e, "ppid"), info->ppid);
    ASSERT_EQ(tu_json_int(e, "PStartTime"), (long long)info->pstart_time);
}

static void expect_garbage_mode(const char *root)
{
    char *path = tu_path_join(root, "garbage.json");
    struct stat st;
    ASSERT_MSG(lstat(path, &st) == 0, "no %s: %s", path, strerror(errno));
    ASSERT(S_ISREG(st.st_mode));
    ASSERT_EQ(st.st_mode & 07777, 0600);
    free(path);
}

/* ---- clean fails K times, then succeeds (held at a gate) ---- */

#define CLEAN_FAILURES 3
static tu_gate clean_gate;
static tu_events *clean_calls;

static int clean_k(void *ctx, const char *id, const char *runtime, int pid)
{
    (void)ctx;
    (void)runtime;
    tu_events_record(clean_calls, id, pid, 0);
    if (tu_events_count(clean_calls, id) <= CLEAN_FAILURES) return 1;
    /* Hold the successful attempt until the test has looked at the GC state. */
    if (!tu_gate_wait(&clean_gate, H_WAIT_MS)) return 1;
    return 0;
}

TEST(gc_clean_failure)
{
    clean_calls = tu_events_new();
    tu_gate_init(&clean_gate);
    char *root = h_setup("gc-clean", clean_k);
    ASSERT_OK(start_gchandler());
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, "gc1", &info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 17, sizeof(int));
    h_expect_stopped("gc1", info.pid, 17);
    h_reap_shim(shim);

    ASSERT_EQ(supervisor_container_state("gc1"), SUPERVISOR_STATE_GC);
    ASSERT(gc_is_gc_progress("gc1"));
    yajl_val tree = tu_garbage_load(root);
    ASSERT_MSG(tree != NULL, "garbage.json missing or not JSON while gc1 is in GC");
    expect_entry(tree, "gc1", "runc", &info);
    yajl_tree_free(tree);
    expect_garbage_mode(root);

    /* The collector retries; the (K+1)th clean is held at the gate. */
    ASSERT_MSG(tu_events_wait(clean_calls, "gc1", CLEAN_FAILURES + 1, H_WAIT_MS),
               "collector made only %d clean attempts", tu_events_count(clean_calls, "gc1"));
    ASSERT_EQ(supervisor_container_state("gc1"), SUPERVISOR_STATE_GC);
    ASSERT(gc_is_gc_progress("gc1"));
    ASSERT_EQ(tu_events_count(tu_gc_done, "gc1"), 0);
    tu_gate_open(&clean_gate);

    ASSERT_MSG(tu_events_wait(tu_gc_done, "gc1", 1, H_WAIT_MS), "no gc_done for gc1");
    ASSERT_EQ(tu_garbage_count_id(root, "gc1"), 0);
    ASSERT_EQ(supervisor_container_state("gc1"), SUPERVISOR_STATE_NONE);
    ASSERT(!gc_is_gc_progress("gc1"));
    tu_sleep_ms(H_QUIET_MS);
    ASSERT_EQ(tu_events_count(tu_stopped, "gc1"), 1);
    ASSERT_EQ(tu_events_count(tu_gc_done, "gc1"), 1);
    ASSERT_EQ(tu_events_count(clean_calls, "gc1"), CLEAN_FAILURES + 1);
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* gc_add_container is durable on return; same id replaces; restore is idempotent. */
TEST(gc_add_durable)
{
    char *root = h_setup("gc-durable", NULL);
    pid_ppid_info_t a = tu_dead_info();
    ASSERT_OK(gc_add_container("dur1", "runc", &a));
    yajl_val tree = tu_garbage_load(root);
    ASSERT_MSG(tree != NULL, "garbage.json not written when gc_add_container returned");
    expect_entry(tree, "dur1", "runc", &a);
    yajl_tree_free(tree);
    expect_garbage_mode(root);
    ASSERT_EQ(supervisor_container_state("dur1"), SUPERVISOR_STATE_GC);
    ASSERT(gc_is_gc_progress("dur1"));

    pid_ppid_info_t b = tu_dead_info();
    ASSERT_OK(gc_add_container("dur1", "kata-runtime", &b));
    ASSERT_EQ(tu_garbage_count_id(root, "dur1"), 1);
    tree = tu_garbage_load(root);
    expect_entry(tree, "dur1", "kata-runtime", &b);
    yajl_tree_free(tree);

    ASSERT_OK(gc_add_container("dur2", "runc", &a));
    ASSERT_EQ(tu_garbage_count(root), 2);
    ASSERT_OK(gc_restore());
    ASSERT_OK(gc_restore());
    ASSERT_EQ(tu_garbage_count(root), 2);
    ASSERT_EQ(tu_garbage_count_id(root, "dur1"), 1);
    ASSERT_EQ(tu_garbage_count_id(root, "dur2"), 1);
    ASSERT(gc_is_gc_progress("dur1"));
    ASSERT(gc_is_gc_progress("dur2"));
    ASSERT(!gc_is_gc_progress("never-added"));

    ASSERT_OK(supervisor_shutdown());
    ASSERT_EQ(tu_garbage_count(root), 2); /* shutdown keeps the list */
}

/* gc_restore merges entries another writer put in the file. */
TEST(gc_restore_merge)
{
    char *root = h_setup("gc-merge", NULL);
    pid_ppid_info_t a = tu_dead_info();
    ASSERT_OK(gc_add_container("mine", "runc", &a));
    char *text = NULL;
    ASSERT(asprintf(&text,
                    "{\"GcContainers\":[{\"id\":\"mine\",\"runtime\":\"runc\",\"pid\":%d,\"StartTime\":%llu,"
                    "\"ppid\":%d,\"PStartTime\":%llu},"
                    "{\"id\":\"theirs\",\"runtime\":\"runc\",\"pid\":%d,\"StartTime\":%llu}]}",
                    a.pid, a.start_time, a.ppid, a.pstart_time, a.pid, a.start_time) > 0);
    char *path = tu_path_join(root, "garbage.json");
    tu_write_file(path, text, strlen(text));
    ASSERT_OK(gc_restore());
    ASSERT(gc_is_gc_progress("theirs"));
    ASSERT(gc_is_gc_progress("mine"));
    ASSERT_OK(gc_restore());
    ASSERT_OK(gc_add_container("third", "runc", &a));
    ASSERT_EQ(tu_garbage_count_id(root, "mine"), 1);
    ASSERT_EQ(tu_garbage_count_id(root, "theirs"), 1);
    ASSERT_EQ(tu_garbage_count_id(root, "third"), 1);
    ASSERT_EQ(tu_garbage_count(root), 3);
    free(path);
    free(text);
    ASSERT_OK(supervisor_shutdown());
}

/* ---- restart across processes ---- */

static const char *env_root(void)
{
    const char *r = getenv("HARNESS_ROOT");
    ASSERT_MSG(r != NULL && *r == '/', "HARNESS_ROOT not set: this case is a phase of another case");
    return r;
}

static void short_options(const char *root)
{
    ASSERT_OK(supervisor_set_option("root_dir", root));
    ASSERT_OK(supervisor_set_option("kill_retries", "3"));
    ASSERT_OK(supervisor_set_option("kill_retry_interval_ms", "10"));
    ASSERT_OK(supervisor_set_option("gc_retry_initial_ms", "10"));
    ASSERT_OK(supervisor_set_option("gc_retry_max_ms", "200"));
}

static int clean_fails(void *ctx, const char *id, const char *runtime, int pid)
{
    (void)ctx;
    (void)id;
    (void)runtime;
    (void)pid;
    return 1;
}

static const char *const restart_ids[] = { "rs-exit", "rs-add1", "rs-add2" };

/* Phase 1 (own process): entries whose cleanup fails, then shutdown. */
TEST(gc_restart_phase1)
{
    const char *root = env_root();
    short_options(root);
    tu_install_recorder(clean_fails);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, restart_ids[0], &info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    h_expect_stopped(restart_ids[0], info.pid, 0);
    h_reap_shim(shim);
    ASSERT_OK(gc_add_container(restart_ids[1], "runc", &info));
    ASSERT_OK(gc_add_container(restart_ids[2], "runc", &info));
    for (int i = 0; i < 3; i++) ASSERT(gc_is_gc_progress(restart_ids[i]));
    ASSERT_OK(supervisor_shutdown());
    free(fifo);
}

/* Phase 2 (a fresh process): restore, collect with a succeeding clean. */
TEST(gc_restart_phase2)
{
    const char *root = env_root();
    short_options(root);
    tu_install_recorder(NULL);
    ASSERT_OK(new_gchandler());
    for (int i = 0; i < 3; i++) {
        ASSERT_MSG(gc_is_gc_progress(restart_ids[i]), "%s not restored", restart_ids[i]);
        ASSERT_EQ(supervisor_container_state(restart_ids[i]), SUPERVISOR_STATE_GC);
    }
    ASSERT_OK(new_supervisor());
    ASSERT_OK(start_gchandler());
    for (int i = 0; i < 3; i++)
        ASSERT_MSG(tu_events_wait(tu_gc_done, restart_ids[i], 1, H_WAIT_MS), "no gc_done for %s",
                   restart_ids[i]);
    ASSERT_EQ(tu_garbage_count(root), 0);
    ASSERT_EQ(tu_events_total(tu_stopped), 0);
    ASSERT_OK(supervisor_shutdown());
}

static void run_phase(const char *phase, const char *root)
{
    char *env = NULL;
    ASSERT(asprintf(&env, "HARNESS_ROOT=%s", root) > 0);
    const char *extra[] = { env, NULL };
    pid_t p = tu_spawn_self(phase, extra);
    int st = 0;
    ASSERT_MSG(tu_reap(p, 30000, &st), "%s did not finish", phase);
    ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed: wait status 0x%x", phase, st);
    free(env);
}

TEST(gc_restart)
{
    char *root = tu_mkdtemp("gc-restart");
    run_phase("gc_restart_phase1", root);
    ASSERT_EQ(tu_garbage_count(root), 3);
    for (int i = 0; i < 3; i++) ASSERT_EQ(tu_garbage_count_id(root, restart_ids[i]), 1);
    run_phase("gc_restart_phase2", root);
    ASSERT_EQ(tu_garbage_count(root), 0);
}

/* A damaged garbage.json is kept aside; the engine still starts. */
TEST(gc_damaged_file)
{
    char *root = tu_setup_root("gc-damaged");
    tu_install_recorder(NULL);
    static const char junk[] = "\x01\x02{\"GcContainers\":[{\"id\": garbage";
    char *path = tu_path_join(root, "garbage.json");
    tu_write_file(path, junk, sizeof(junk) - 1);
    ASSERT_OK(new_gchandler());

    DIR *d = opendir(root);
    ASSERT(d != NULL);
    char *found = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *pfx = "garbage.json.corrupt-";
        if (strncmp(de->d_name, pfx, strlen(pfx)) != 0) continue;
        const char *digits = de->d_name + strlen(pfx);
        bool ok = *digits != '\0';
        for (const char *c = digits; *c; c++) ok = ok && *c >= '0' && *c <= '9';
        ASSERT_MSG(ok, "corrupt copy named %s (want garbage.json.corrupt-<digits>)", de->d_name);
        found = tu_path_join(root, de->d_name);
    }
    closedir(d);
    ASSERT_MSG(found != NULL, "no garbage.json.corrupt-<unix-time> in %s", root);
    size_t len = 0;
    char *kept = tu_read_file(found, &len);
    ASSERT(kept != NULL);
    ASSERT_MSG(len == sizeof(junk) - 1 && memcmp(kept, junk, len) == 0, "corrupt copy differs from the original");
    ASSERT_MSG(tu_events_wait(tu_logs, "3", 1, H_WAIT_MS), "damaged garbage.json not logged at error");

    /* The store works afterwards. */
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container("after-damage", "runc", &info));
    ASSERT_EQ(tu_garbage_count(root), 1);
    free(kept);
    free(found);
    free(path);
    ASSERT_OK(supervisor_shutdown());
}

/* iSulad writes "{}" for an empty list. */
TEST(gc_isulad_empty)
{
    char *root = tu_setup_root("gc-empty");
    tu_install_recorder(NULL);
    char *path = tu_path_join(root, "garbage.json");
    tu_write_file(path, "{}", 2);
    ASSERT_OK(new_gchandler());
    ASSERT_EQ(tu_garbage_count(root), 0);
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container("e1", "runc", &info));
    yajl_val tree = tu_garbage_load(root);
    expect_entry(tree, "e1", "runc", &info);
    ASSERT_EQ(tu_garbage_count(root), 1);
    yajl_tree_free(tree);
    free(path);
    ASSERT_OK(supervisor_shutdown());
}

/* What iSulad writes: zero-valued keys omitted, unknown keys, and (a file
 * iSulad itself would crash on) an entry without id. */
TEST(gc_isulad_file)
{
    char *root = tu_setup_root("gc-isulad");
    tu_install_recorder(NULL);
    pid_ppid_info_t a = tu_dead_info();
    char *text = NULL;
    ASSERT(asprintf(&text,
                    "{\"GcContainers\":["
                    "{\"id\":\"isula-a\",\"runtime\":\"runc\",\"pid\":%d,\"StartTime\":%llu,"
                    "\"vendorKey\":{\"x\":[1,2,3]}},"
                    "{\"runtime\":\"runc\",\"pid\":%d},"
                    "{\"id\":\"isula-b\",\"runtime\":\"lcr\"}"
                    "],\"futureTop\":\"kept\"}",
                    a.pid, a.start_time, a.pid) > 0);
    char *path = tu_path_join(root, "garbage.json");
    tu_write_file(path, text, strlen(text));
    ASSERT_OK(new_gchandler());
    ASSERT(gc_is_gc_progress("isula-a"));
    ASSERT(gc_is_gc_progress("isula-b"));
    ASSERT_OK(gc_restore());

    /* Force a rewrite. */
    pid_ppid_info_t f = tu_dead_info();
    ASSERT_OK(gc_add_container("fresh", "runc", &f));
    yajl_val tree = tu_garbage_load(root);
    ASSERT_MSG(tree != NULL, "rewritten garbage.json is not JSON");
    ASSERT_STREQ(tu_json_str(tree, "futureTop"), "kept");
    pid_ppid_info_t a0 = a;
    a0.ppid = 0;
    a0.pstart_time = 0;
    expect_entry(tree, "isula-a", "runc", &a0);
    yajl_val vk = tu_json_get(tu_garbage_entry(tree, "isula-a"), "vendorKey");
    ASSERT_MSG(vk != NULL && YAJL_IS_OBJECT(vk), "per-entry unknown key lost");
    yajl_val x = tu_json_get(vk, "x");
    ASSERT(x != NULL && YAJL_IS_ARRAY(x) && x->u.array.len == 3);
    pid_ppid_info_t zero;
    memset(&zero, 0, sizeof(zero));
    expect_entry(tree, "isula-b", "lcr", &zero);
    expect_entry(tree, "fresh", "runc", &f);
    ASSERT_EQ(tu_garbage_count_id(root, "isula-a"), 1);
    ASSERT_EQ(tu_garbage_count_id(root, "isula-b"), 1);
    yajl_tree_free(tree);
    free(path);
    free(text);
    ASSERT_OK(supervisor_shutdown());
}

static const tu_case cases[] = {
    TU_CASE(gc_clean_failure),
    TU_CASE(gc_add_durable),
    TU_CASE(gc_restore_merge),
    TU_CASE(gc_restart),
    TU_CASE(gc_restart_phase1),
    TU_CASE(gc_restart_phase2),
    TU_CASE(gc_damaged_file),
    TU_CASE(gc_isulad_empty),
    TU_CASE(gc_isulad_file),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
