/*
 * iSulad interoperability of garbage.json, end to end.
 *
 * isulad_garbage_restore: a garbage.json exactly as iSulad writes it (zero
 *   keys omitted, keys this project does not know, top level and per entry)
 *   naming a real runc container and its (fake) shim is restored by
 *   new_gchandler and collected: the shim is SIGKILLed, the container killed,
 *   the engine's clean_resource hook (runc delete --force, as iSulad's runtime
 *   cleanup does) releases it, gc_done fires; unknown keys survive rewrites.
 * garbage_schema: a garbage.json written by this library validates against
 *   iSulad's schema (isulad-garbage-schema.json): every key it defines is
 *   present with the right type and range.
 *
 * Each case runs in a child; the parent always removes the runc container
 * and its state afterwards (testutil's failure path uses _exit).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define RUNC_ROOT "/run/sup-e2e-interop-runc"
#define CTR_ID "e2e-isulad-ctr"

/* Runs argv with a deadline, output captured. Exit status, or -1. */
static int run_cmd(const char *const argv[], int timeout_ms, char *out, size_t outlen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    long long deadline = tu_now_ms() + timeout_ms;
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    int status = 0;
    bool done = false;
    while (!done) {
        ssize_t n;
        char sink[256];
        while ((n = read(fds[0], out && len + 1 < outlen ? out + len : sink,
                         out && len + 1 < outlen ? outlen - 1 - len : sizeof sink)) > 0)
            if (out && len + 1 < outlen) len += (size_t)n;
        if (waitpid(pid, &status, WNOHANG) == pid) done = true;
        else if (tu_now_ms() > deadline) { kill(pid, SIGKILL); waitpid(pid, &status, 0); close(fds[0]); return -1; }
        else tu_sleep_ms(5); /* a child's exit has no fd here; short bounded poll */
    }
    ssize_t n;
    while (out && len + 1 < outlen && (n = read(fds[0], out + len, outlen - 1 - len)) > 0) len += (size_t)n;
    close(fds[0]);
    if (out && outlen) out[len] = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int runc_delete(void)
{
    char out[1024];
    const char *argv[] = { "runc", "--root", RUNC_ROOT, "delete", "--force", CTR_ID, NULL };
    int rc = run_cmd(argv, 15000, out, sizeof out);
    return rc == 0 || strstr(out, "does not exist") || strstr(out, "not exist") ? 0 : 1;
}

/* ------------------------------------------------------------------------ */

static atomic_int stays_released;

/* The engine's own cleanup, as iSulad's runtime clean_resource: runc delete. */
static int engine_clean(void *ctx, const char *id, const char *runtime, int pid)
{
    (void)ctx; (void)runtime; (void)pid;
    if (strcmp(id, CTR_ID) == 0) return runc_delete();
    if (strcmp(id, "e2e-isulad-stays") == 0) return atomic_load(&stays_released) ? 0 : 1;
    return 0;
}

/* config.json for a sleeping container from the bundle fixture's template. */
static void write_config(const char *bundle_dir)
{
    char *tpl = tu_read_file(E2E_BUNDLE "/config.json", NULL);
    ASSERT_MSG(tpl != NULL, "no bundle template at %s (run the e2e.bundle fixture)", E2E_BUNDLE);
    const char *subs[][2] = {
        { "\"exit 0\"", "\"sleep 60\"" },
        { "\"path\": \"rootfs\"", "\"path\": \"" E2E_BUNDLE "/rootfs\"" },
    };
    for (size_t i = 0; i < 2; i++) {
        char *at = strstr(tpl, subs[i][0]);
        ASSERT_MSG(at != NULL, "template lacks %s", subs[i][0]);
        char *next = NULL;
        ASSERT(asprintf(&next, "%.*s%s%s", (int)(at - tpl), tpl, subs[i][1], at + strlen(subs[i][0])) > 0);
        free(tpl);
        tpl = next;
    }
    char *path = tu_path_join(bundle_dir, "config.json");
    tu_write_file(path, tpl, strlen(tpl));
    free(path);
    free(tpl);
}

static int cgroup_dirs_left(const char *name)
{
    const char *hier[] = { "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
                           "systemd", "unified", "" };
    int left = 0;
    for (size_t i = 0; i < sizeof hier / sizeof hier[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "/sys/fs/cgroup/%s%s%s", hier[i], hier[i][0] ? "/" : "", name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) left++;
    }
    return left;
}

TEST(isulad_garbage_restore)
{
    char *root = tu_setup_root("e2e-isulad");
    char *bundle = tu_path_join(root, "bundle");
    tu_mkdir(bundle);
    write_config(bundle);

    /* A real container, started by runc directly (its shim: a paused child). */
    char out[4096];
    const char *run[] = { "runc", "--root", RUNC_ROOT, "run", "-d", "--bundle", bundle, CTR_ID, NULL };
    int rc = run_cmd(run, 20000, out, sizeof out);
    ASSERT_MSG(rc == 0, "runc run -d: %d: %s", rc, out);
    const char *state[] = { "runc", "--root", RUNC_ROOT, "state", CTR_ID, NULL };
    ASSERT_EQ(run_cmd(state, 10000, out, sizeof out), 0);
    yajl_val st = tu_json_parse(out);
    ASSERT(st != NULL);
    int cpid = (int)tu_json_int(st, "pid");
    yajl_tree_free(st);
    unsigned long long cstart = 0, sstart = 0;
    ASSERT(tu_proc_start_time(cpid, &cstart));
    pid_t shim = tu_spawn_paused();
    ASSERT(tu_proc_start_time(shim, &sstart));

    /* iSulad's format: zero-valued keys omitted, unknown keys everywhere. */
    char *text = NULL;
    ASSERT(asprintf(&text,
        "{\"GcContainers\":["
        "{\"id\":\"" CTR_ID "\",\"runtime\":\"runc\",\"pid\":%d,\"StartTime\":%llu,\"ppid\":%d,"
        "\"PStartTime\":%llu,\"isulad_extra\":\"x\"},"
        "{\"id\":\"e2e-isulad-omitted\",\"runtime\":\"lcr\"},"
        "{\"id\":\"e2e-isulad-stays\",\"runtime\":\"runc\",\"isulad_future\":{\"labels\":[\"a\",\"b\"],\"n\":3}}"
        "],\"IsuladTopLevel\":{\"kept\":true}}",
        cpid, cstart, (int)shim, sstart) > 0);
    char *gpath = tu_path_join(root, "garbage.json");
    tu_write_file(gpath, text, strlen(text));

    tu_install_recorder(engine_clean);
    ASSERT_OK(new_gchandler());
    ASSERT(gc_is_gc_progress(CTR_ID));
    ASSERT(gc_is_gc_progress("e2e-isulad-omitted"));
    ASSERT(gc_is_gc_progress("e2e-isulad-stays"));
    ASSERT_OK(start_gchandler());

    ASSERT_MSG(tu_events_wait(tu_gc_done, CTR_ID, 1, 20000), "gc_done for the runc container");
    ASSERT_MSG(tu_events_wait(tu_gc_done, "e2e-isulad-omitted", 1, 10000), "gc_done for the omitted-keys entry");
    int status = 0;
    ASSERT_MSG(tu_reap(shim, 5000, &status), "the shim (ppid) was not killed");
    ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ASSERT_MSG(!tu_proc_running(cpid), "container process %d survived GC", cpid);
    const char *list[] = { "runc", "--root", RUNC_ROOT, "list", "-q", NULL };
    ASSERT_EQ(run_cmd(list, 10000, out, sizeof out), 0);
    ASSERT_MSG(out[0] == 0, "runc list not empty: %s", out);
    ASSERT_EQ(cgroup_dirs_left(CTR_ID), 0);

    /* The entry still in GC kept its unknown keys across rewrites. */
    yajl_val tree = tu_garbage_load(root);
    ASSERT(tree != NULL);
    ASSERT(tu_garbage_entry(tree, CTR_ID) == NULL);
    yajl_val stays = tu_garbage_entry(tree, "e2e-isulad-stays");
    ASSERT_MSG(stays != NULL, "entry still failing vanished");
    yajl_val fut = tu_json_get(stays, "isulad_future");
    ASSERT_MSG(fut && YAJL_IS_OBJECT(fut) && tu_json_int(fut, "n") == 3, "per-entry unknown key lost");
    yajl_val top = tu_json_get(tree, "IsuladTopLevel");
    ASSERT_MSG(top && YAJL_IS_OBJECT(top), "top-level unknown key lost");
    yajl_tree_free(tree);

    atomic_store(&stays_released, 1);
    ASSERT_MSG(tu_events_wait(tu_gc_done, "e2e-isulad-stays", 1, 10000), "gc_done for the retried entry");
    ASSERT_EQ(tu_garbage_count(root), 0);
    tree = tu_garbage_load(root);
    ASSERT(tree && tu_json_get(tree, "IsuladTopLevel") != NULL);
    yajl_tree_free(tree);
    ASSERT_OK(supervisor_shutdown());
    free(text);
    free(gpath);
    free(bundle);
}

/* ------------------------------------------------------------------------ */

/* libocispec types of iSulad's schema: object, array, string, int32, uint64. */
static void validate(yajl_val v, yajl_val schema, const char *where)
{
    const char *type = tu_json_str(schema, "type");
    ASSERT_MSG(type != NULL, "schema at %s has no type", where);
    if (!strcmp(type, "object")) {
        ASSERT_MSG(YAJL_IS_OBJECT(v), "%s: not an object", where);
        yajl_val props = tu_json_get(schema, "properties");
        for (size_t i = 0; props && i < props->u.object.len; i++) {
            const char *k = props->u.object.keys[i];
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s", where, k);
            yajl_val m = tu_json_get(v, k);
            ASSERT_MSG(m != NULL, "%s: missing (a writer writes every key)", sub);
            validate(m, props->u.object.values[i], sub);
        }
    } else if (!strcmp(type, "array")) {
        ASSERT_MSG(YAJL_IS_ARRAY(v), "%s: not an array", where);
        for (size_t i = 0; i < v->u.array.len; i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s[%zu]", where, i);
            validate(v->u.array.values[i], tu_json_get(schema, "items"), sub);
        }
    } else if (!strcmp(type, "string")) {
        ASSERT_MSG(YAJL_IS_STRING(v), "%s: not a string", where);
    } else if (!strcmp(type, "int32")) {
        ASSERT_MSG(YAJL_IS_INTEGER(v), "%s: not an integer", where);
        long long n = YAJL_GET_INTEGER(v);
        ASSERT_MSG(n >= INT32_MIN && n <= INT32_MAX, "%s: %lld out of int32", where, n);
    } else if (!strcmp(type, "uint64")) {
        ASSERT_MSG(YAJL_IS_INTEGER(v), "%s: not an integer", where);
        ASSERT_MSG(YAJL_GET_INTEGER(v) >= 0, "%s: negative", where);
    } else {
        FAIL("schema type %s at %s not supported", type, where);
    }
}

static void expect_values(yajl_val tree, const char *id, const char *runtime, const pid_ppid_info_t *i)
{
    yajl_val e = tu_garbage_entry(tree, id);
    ASSERT_MSG(e != NULL, "no entry %s", id);
    ASSERT_STREQ(tu_json_str(e, "runtime"), runtime);
    ASSERT_EQ(tu_json_int(e, "pid"), i->pid);
    ASSERT_EQ(tu_json_int(e, "ppid"), i->ppid);
    ASSERT_EQ(tu_json_int(e, "StartTime"), (long long)i->start_time);
    ASSERT_EQ(tu_json_int(e, "PStartTime"), (long long)i->pstart_time);
}

TEST(garbage_schema)
{
    char *root = tu_setup_root("e2e-schema");
    tu_install_recorder(NULL);
    ASSERT_OK(new_gchandler()); /* not started: the entries stay listed */
    pid_ppid_info_t a, z;
    memset(&z, 0, sizeof z);
    tu_dead_pid(&a.pid, &a.start_time);
    tu_dead_pid(&a.ppid, &a.pstart_time);
    ASSERT_OK(supervisor_track_resource("e2e-schema-a", SUPERVISOR_RES_PATH, "/tmp/sup-e2e-schema-nothing"));
    ASSERT_OK(gc_add_container("e2e-schema-a", "runc", &a));
    ASSERT_OK(gc_add_container("e2e-schema-zero", "lcr", &z));

    char *text = tu_read_file(tu_path_join(root, "garbage.json"), NULL);
    ASSERT_MSG(text != NULL, "the library wrote no garbage.json");
    tu_log("garbage.json: %s", text);
    yajl_val tree = tu_json_parse(text);
    char *stext = tu_read_file(E2E_SCHEMA, NULL);
    ASSERT(stext != NULL);
    yajl_val schema = tu_json_parse(stext);
    ASSERT(tree != NULL && schema != NULL);
    validate(tree, schema, "$");
    ASSERT_EQ(tu_garbage_count(root), 2);
    expect_values(tree, "e2e-schema-a", "runc", &a);
    expect_values(tree, "e2e-schema-zero", "lcr", &z); /* zero values written too */
    struct stat st;
    char *gpath = tu_path_join(root, "garbage.json");
    ASSERT_OK(stat(gpath, &st));
    ASSERT_EQ(st.st_mode & 07777, 0600);
    yajl_tree_free(tree);
    yajl_tree_free(schema);
    ASSERT_OK(supervisor_shutdown());
    free(text);
    free(stext);
    free(gpath);
}

static const tu_case cases[] = {
    TU_CASE(isulad_garbage_restore),
    TU_CASE(garbage_schema),
};

/* The case runs in a child (before any library thread exists); whatever
 * happens to it, the parent removes the runc container and its root. */
int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--list") == 0) return TU_MAIN(argc, argv, cases);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) _exit(TU_MAIN(argc, argv, cases));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    runc_delete();
    const char *rm[] = { "rm", "-rf", RUNC_ROOT, NULL };
    run_cmd(rm, 10000, NULL, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
