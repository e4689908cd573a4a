/* Lifecycle, status JSON, options, exit records, version and bad input. */
#include "harness.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* "/aaaa..." of exactly len characters. */
static char *path_of_len(size_t len)
{
    char *p = malloc(len + 1);
    ASSERT(p != NULL);
    memset(p, 'a', len);
    p[0] = '/';
    p[len] = '\0';
    return p;
}

/* ---- lifecycle ---- */

TEST(lifecycle_restart)
{
    char *root = h_setup("lifecycle", NULL);
    ASSERT_OK(new_supervisor());    /* idempotent while running */
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    ASSERT_OK(start_gchandler());

    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, "lc1", &info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 11, sizeof(int));
    h_expect_stopped("lc1", info.pid, 11);
    h_reap_shim(shim);
    free(fifo);

    /* root_dir cannot move while the GC store is loaded. */
    char *root2 = tu_mkdtemp("lifecycle-2");
    ASSERT_FAILS(supervisor_set_option("root_dir", root2), EBUSY);

    /* A monitor still armed at shutdown: its read end is closed. */
    char *pending = tu_arm_monitor(root, "lc-pending", &info, "runc");
    ASSERT_OK(supervisor_shutdown());
    int w = open(pending, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    int e = errno;
    if (w >= 0) close(w);
    ASSERT_MSG(w == -1 && e == ENXIO, "FIFO still has a reader after shutdown (open: %d, errno %d)", w, e);
    ASSERT_OK(supervisor_shutdown()); /* nothing runs: 0 */

    /* Restart with a new root (hooks installed again: the case does not
     * depend on whether shutdown keeps them). */
    ASSERT_OK(supervisor_set_option("root_dir", root2));
    tu_install_recorder(NULL);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    ASSERT_OK(start_gchandler());
    ASSERT_OK(gc_add_container("lc-gc", "runc", &info));
    ASSERT_MSG(tu_events_wait(tu_gc_done, "lc-gc", 1, H_WAIT_MS), "collector not working after restart");
    ASSERT_EQ(tu_garbage_count(root2), 0);
    fifo = tu_arm_monitor(root2, "lc2", &info, "runc");
    shim = tu_spawn_fake_shim(fifo, 12, sizeof(int));
    h_expect_stopped("lc2", info.pid, 12);
    h_reap_shim(shim);
    ASSERT_EQ(tu_events_count(tu_stopped, "lc-pending"), 0);
    free(fifo);
    free(pending);
    ASSERT_OK(supervisor_shutdown());
}

/* ---- status JSON ---- */

static yajl_val find_by_id(yajl_val arr, const char *id)
{
    if (arr == NULL || !YAJL_IS_ARRAY(arr)) return NULL;
    for (size_t i = 0; i < arr->u.array.len; i++) {
        const char *s = tu_json_str(arr->u.array.values[i], "id");
        if (s != NULL && strcmp(s, id) == 0) return arr->u.array.values[i];
    }
    return NULL;
}

TEST(status_json)
{
    char *root = h_setup("status", NULL);
    pid_ppid_info_t mon = tu_dead_info();
    pid_ppid_info_t gcinfo = tu_dead_info();
    char *fifo = tu_arm_monitor(root, "st-run", &mon, "runc");
    ASSERT_OK(gc_add_container("st-gc", "runc", &gcinfo));
    ASSERT_EQ(supervisor_container_state("st-run"), SUPERVISOR_STATE_RUNNING);
    ASSERT_EQ(supervisor_container_state("st-gc"), SUPERVISOR_STATE_GC);
    ASSERT_EQ(supervisor_container_state("st-unknown"), SUPERVISOR_STATE_NONE);

    char *text = supervisor_status_json();
    ASSERT_MSG(text != NULL, "supervisor_status_json: %s", strerror(errno));
    tu_log("status: %s", text);
    yajl_val v = tu_json_parse(text);
    ASSERT_MSG(v != NULL && YAJL_IS_OBJECT(v), "status is not a JSON object");
    ASSERT_STREQ(tu_json_str(v, "version"), supervisor_version());
    yajl_val running = tu_json_get(v, "supervisor_running");
    ASSERT_MSG(running != NULL && YAJL_IS_TRUE(running), "supervisor_running not true");
    yajl_val gcr = tu_json_get(v, "gc_running");
    ASSERT_MSG(gcr != NULL && (YAJL_IS_TRUE(gcr) || YAJL_IS_FALSE(gcr)), "gc_running not a boolean");
    ASSERT(tu_json_int(v, "workers") > 0);

    yajl_val m = find_by_id(tu_json_get(v, "monitors"), "st-run");
    ASSERT_MSG(m != NULL, "st-run missing from monitors");
    ASSERT_STREQ(tu_json_str(m, "runtime"), "runc");
    ASSERT_EQ(tu_json_int(m, "pid"), mon.pid);
    ASSERT_EQ(tu_json_int(m, "ppid"), mon.ppid);
    ASSERT_STREQ(tu_json_str(m, "state"), "running");
    ASSERT_MSG(find_by_id(tu_json_get(v, "monitors"), "st-gc") == NULL, "GC entry listed as a monitor");

    yajl_val g = find_by_id(tu_json_get(v, "gc"), "st-gc");
    ASSERT_MSG(g != NULL, "st-gc missing from gc");
    ASSERT_STREQ(tu_json_str(g, "runtime"), "runc");
    ASSERT_EQ(tu_json_int(g, "pid"), gcinfo.pid);
    ASSERT_EQ(tu_json_int(g, "ppid"), gcinfo.ppid);
    ASSERT(tu_json_int(g, "attempts") >= 0);
    ASSERT(tu_json_int(g, "next_retry_ms") >= 0);
    yajl_val le = tu_json_get(g, "last_error");
    ASSERT_MSG(le != NULL && (YAJL_IS_NULL(le) || YAJL_IS_STRING(le)), "last_error missing");
    yajl_val stuck = tu_json_get(g, "stuck");
    ASSERT_MSG(stuck != NULL && YAJL_IS_FALSE(stuck), "stuck not false");
    yajl_val res = tu_json_get(g, "resources");
    ASSERT_MSG(res != NULL && YAJL_IS_ARRAY(res), "resources not an array");
    yajl_tree_free(v);
    free(text);

    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    h_expect_stopped("st-run", mon.pid, 0);
    h_reap_shim(shim);
    text = supervisor_status_json();
    v = tu_json_parse(text);
    ASSERT(v != NULL);
    ASSERT_MSG(find_by_id(tu_json_get(v, "monitors"), "st-run") == NULL, "stopped monitor still listed");
    yajl_tree_free(v);
    free(text);
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* ---- options ---- */

TEST(options_accepted)
{
    char *root = tu_mkdtemp("options");
    static const char *const kv[][2] = {
        { "kill_retries", "5" },          { "kill_retry_interval_ms", "20" },
        { "gc_retry_initial_ms", "50" },  { "gc_retry_max_ms", "5000" },
        { "gc_stuck_after", "7" },        { "workers", "2" },
        { "log_level", "error" },         { "log_level", "warning" },
        { "log_level", "info" },          { "log_level", "debug" },
        { "mount_detach_after", "3" },    { "kill_retries", "0" },
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        errno = 0;
        int r = supervisor_set_option(kv[i][0], kv[i][1]);
        ASSERT_MSG(r == 0, "option %s=%s refused: %s", kv[i][0], kv[i][1], strerror(errno));
    }
    ASSERT_OK(supervisor_set_option("log_level", "warning"));
    ASSERT_OK(supervisor_set_option("root_dir", root));
    tu_install_recorder(NULL);
    ASSERT_OK(new_supervisor());
    ASSERT_OK(new_gchandler());
    char *text = supervisor_status_json();
    yajl_val v = text ? tu_json_parse(text) : NULL;
    ASSERT(v != NULL);
    ASSERT_EQ(tu_json_int(v, "workers"), 2);
    yajl_tree_free(v);
    free(text);
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container("opt1", "runc", &info));
    char *gj = tu_path_join(root, "garbage.json");
    struct stat st;
    ASSERT_MSG(stat(gj, &st) == 0, "root_dir not used for garbage.json: %s", strerror(errno));
    ASSERT_EQ(st.st_mode & 07777, 0600);
    ASSERT_EQ(tu_garbage_count_id(root, "opt1"), 1);
    free(gj);
    ASSERT_OK(supervisor_shutdown());
}

/* $SUPERVISOR_ROOT_DIR is the default root_dir (checked in a fresh process). */
TEST(option_root_dir_env_child)
{
    const char *dir = getenv("SUPERVISOR_ROOT_DIR");
    ASSERT_MSG(dir != NULL, "run through option_root_dir_env");
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(new_gchandler());
    ASSERT_OK(gc_add_container("envroot", "runc", &info));
    ASSERT_EQ(tu_garbage_count_id(dir, "envroot"), 1);
    ASSERT_OK(supervisor_shutdown());
}

TEST(option_root_dir_env)
{
    char *dir = tu_mkdtemp("envroot");
    char *env = NULL;
    ASSERT(asprintf(&env, "SUPERVISOR_ROOT_DIR=%s", dir) > 0);
    const char *extra[] = { env, NULL };
    pid_t p = tu_spawn_self("option_root_dir_env_child", extra);
    int st = 0;
    ASSERT_MSG(tu_reap(p, 30000, &st), "child did not finish");
    ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed: wait status 0x%x", st);
    ASSERT_EQ(tu_garbage_count_id(dir, "envroot"), 1);
    free(env);
}

TEST(bad_options)
{
    char *longpath = path_of_len(PATH_MAX);
    ASSERT_FAILS(supervisor_set_option(NULL, "1"), EINVAL);
    ASSERT_FAILS(supervisor_set_option("kill_retries", NULL), EINVAL);
    ASSERT_FAILS(supervisor_set_option("", "1"), EINVAL);
    ASSERT_FAILS(supervisor_set_option("no_such_option", "1"), EINVAL);
    ASSERT_FAILS(supervisor_set_option("KILL_RETRIES", "1"), EINVAL);
    static const char *const numeric[] = {
        "kill_retries", "kill_retry_interval_ms", "gc_retry_initial_ms",
        "gc_retry_max_ms", "gc_stuck_after", "workers",
    };
    static const char *const bad_numbers[] = {
        "", "abc", "-1", "1x", "0x10", "1.5", "99999999999999999999999",
    };
    for (size_t k = 0; k < sizeof(numeric) / sizeof(numeric[0]); k++) {
        for (size_t b = 0; b < sizeof(bad_numbers) / sizeof(bad_numbers[0]); b++) {
            errno = 0;
            int r = supervisor_set_option(numeric[k], bad_numbers[b]);
            ASSERT_MSG(r == -1 && errno == EINVAL, "%s=\"%s\": got %d errno %d, want -1/EINVAL",
                       numeric[k], bad_numbers[b], r, errno);
        }
    }
    ASSERT_FAILS(supervisor_set_option("workers", "0"), EINVAL);
    ASSERT_FAILS(supervisor_set_option("log_level", "verbose"), EINVAL);
    ASSERT_FAILS(supervisor_set_option("log_level", ""), EINVAL);
    ASSERT_FAILS(supervisor_set_option("root_dir", ""), EINVAL);
    ASSERT_FAILS(supervisor_set_option("root_dir", "relative/dir"), EINVAL);
    ASSERT_FAILS(supervisor_set_option("root_dir", longpath), ENAMETOOLONG);
    free(longpath);
}

/* ---- exit records ---- */

TEST(exit_record)
{
    char *dir = tu_mkdtemp("exit-record");
    char *file = tu_path_join(dir, "exit.json");
    int code = -1;
    ASSERT_FAILS(supervisor_exit_record(dir, &code), ENOENT);
    char *missing = tu_path_join(dir, "missing");
    ASSERT_FAILS(supervisor_exit_record(missing, &code), ENOENT);

    static const char rec3[] = "{\"exit_code\":3,\"signal\":0,\"pid\":123,\"start_time\":456,"
                               "\"time\":\"2024-01-02T03:04:05.123456789Z\"}";
    tu_write_file(file, rec3, strlen(rec3));
    ASSERT_OK(supervisor_exit_record(dir, &code));
    ASSERT_EQ(code, 3);

    static const char rec137[] = "{\"exit_code\":137,\"signal\":9,\"pid\":123,\"start_time\":456,"
                                 "\"time\":\"2024-01-02T03:04:05.123456789Z\"}";
    tu_write_file(file, rec137, strlen(rec137));
    ASSERT_OK(supervisor_exit_record(dir, &code));
    ASSERT_EQ(code, 137);

    tu_write_file(file, "{{not json", 10);
    ASSERT_FAILS(supervisor_exit_record(dir, &code), EINVAL);
    static const char range[] = "{\"exit_code\":300,\"signal\":0,\"pid\":1,\"start_time\":1,"
                                "\"time\":\"2024-01-02T03:04:05.123456789Z\"}";
    tu_write_file(file, range, strlen(range));
    ASSERT_FAILS(supervisor_exit_record(dir, &code), EINVAL);
    static const char neg[] = "{\"exit_code\":-1,\"signal\":0,\"pid\":1,\"start_time\":1,"
                              "\"time\":\"2024-01-02T03:04:05.123456789Z\"}";
    tu_write_file(file, neg, strlen(neg));
    ASSERT_FAILS(supervisor_exit_record(dir, &code), EINVAL);

    /* A symlinked record is not followed. */
    ASSERT_OK(unlink(file));
    char *real = tu_path_join(dir, "real.json");
    tu_write_file(real, rec3, strlen(rec3));
    ASSERT_OK(symlink(real, file));
    code = -1;
    errno = 0;
    int r = supervisor_exit_record(dir, &code);
    ASSERT_MSG(r == -1 && errno != 0, "symlinked exit.json was followed (r=%d code=%d)", r, code);

    ASSERT_FAILS(supervisor_exit_record(NULL, &code), EINVAL);
    ASSERT_FAILS(supervisor_exit_record("", &code), EINVAL);
    ASSERT_FAILS(supervisor_exit_record(dir, NULL), EINVAL);
    char *longpath = path_of_len(PATH_MAX);
    ASSERT_FAILS(supervisor_exit_record(longpath, &code), ENAMETOOLONG);
    free(longpath);
    free(real);
    free(missing);
    free(file);
}

TEST(version)
{
    const char *v = supervisor_version();
    ASSERT(v != NULL);
    ASSERT(v[0] >= '0' && v[0] <= '9');
    ASSERT(strchr(v, '.') != NULL);
    ASSERT(supervisor_version() == v || strcmp(supervisor_version(), v) == 0);
}

/* ---- bad input ---- */

TEST(bad_input_fifo)
{
    char *at_limit = path_of_len(PATH_MAX);
    ASSERT_NULL_ERRNO(exit_fifo_name(NULL), EINVAL);
    ASSERT_NULL_ERRNO(exit_fifo_name(""), EINVAL);
    ASSERT_NULL_ERRNO(exit_fifo_name(at_limit), ENAMETOOLONG);
    /* The limit applies to the result: "<dir>/exit_fifo" adds 10 bytes. */
    char *dir_fits = path_of_len(PATH_MAX - 11);
    char *name = exit_fifo_name(dir_fits);
    ASSERT_MSG(name != NULL, "result of PATH_MAX-1 bytes refused: %s", strerror(errno));
    ASSERT_EQ(strlen(name), PATH_MAX - 1);
    free(name);
    char *dir_over = path_of_len(PATH_MAX - 10);
    ASSERT_NULL_ERRNO(exit_fifo_name(dir_over), ENAMETOOLONG);

    ASSERT_NULL_ERRNO(container_exit_fifo_create(NULL), EINVAL);
    ASSERT_NULL_ERRNO(container_exit_fifo_create(""), EINVAL);
    ASSERT_NULL_ERRNO(container_exit_fifo_create(at_limit), ENAMETOOLONG);
    ASSERT_NULL_ERRNO(container_exit_fifo_create(dir_over), ENAMETOOLONG);

    ASSERT_FAILS(container_exit_fifo_open(NULL), EINVAL);
    ASSERT_FAILS(container_exit_fifo_open(""), EINVAL);
    ASSERT_FAILS(container_exit_fifo_open(at_limit), ENAMETOOLONG);
    free(dir_over);
    free(dir_fits);
    free(at_limit);
}

static const char *const bad_ids[] = {
    "", "a/b", "/abs", "..", "../x", "a..b", "x/..", "a\nb", "a\x01z", "tab\tid", "esc\x1b", "del\x7f",
};
#define N_BAD_IDS (sizeof(bad_ids) / sizeof(bad_ids[0]))

TEST(bad_input_monitor)
{
    char *root = h_setup("bad-monitor", NULL);
    pid_ppid_info_t info = tu_dead_info();
    char *dir = tu_path_join(root, "state");
    tu_mkdir(dir);
    char *fifo = container_exit_fifo_create(dir);
    ASSERT(fifo != NULL);
    int fd = container_exit_fifo_open(fifo);
    ASSERT(fd >= 0);

    /* A negative fd: EINVAL (bad argument) or EBADF are both fair. */
    static const int neg_fds[] = { -1, -7 };
    for (size_t i = 0; i < 2; i++) {
        errno = 0;
        int nr = container_supervisor_add_exit_monitor(neg_fds[i], &info, "good", "runc");
        ASSERT_MSG(nr == -1 && (errno == EINVAL || errno == EBADF), "fd %d: got %d errno %d", neg_fds[i],
                   nr, errno);
    }
    ASSERT_FAILS(container_supervisor_add_exit_monitor(fd, NULL, "good", "runc"), EINVAL);
    ASSERT_FAILS(container_supervisor_add_exit_monitor(fd, &info, NULL, "runc"), EINVAL);
    ASSERT_FAILS(container_supervisor_add_exit_monitor(fd, &info, "good", NULL), EINVAL);
    ASSERT_FAILS(container_supervisor_add_exit_monitor(fd, &info, "good", ""), EINVAL);
    for (size_t i = 0; i < N_BAD_IDS; i++) {
        errno = 0;
        int r = container_supervisor_add_exit_monitor(fd, &info, bad_ids[i], "runc");
        ASSERT_MSG(r == -1 && errno == EINVAL, "id #%zu (\"%s\"): got %d errno %d, want -1/EINVAL", i,
                   bad_ids[i], r, errno);
    }
    char *long_id = path_of_len(PATH_MAX);
    long_id[0] = 'a';
    errno = 0;
    int r = container_supervisor_add_exit_monitor(fd, &info, long_id, "runc");
    ASSERT_MSG(r == -1 && errno != 0, "id of PATH_MAX bytes accepted");
    ASSERT_MSG(fcntl(fd, F_GETFD) >= 0, "a failed add closed the caller's fd");

    /* An fd that is not a FIFO. */
    char *reg = tu_path_join(root, "regular");
    tu_write_file(reg, "x", 1);
    int rfd = open(reg, O_RDONLY | O_CLOEXEC);
    ASSERT(rfd >= 0);
    errno = 0;
    r = container_supervisor_add_exit_monitor(rfd, &info, "regfile", "runc");
    ASSERT_MSG(r == -1 && errno != 0, "regular-file fd accepted as an exit FIFO");
    ASSERT_MSG(fcntl(rfd, F_GETFD) >= 0, "a failed add closed the caller's fd");
    ASSERT_OK(close(rfd));
    /* (A closed fd number is not tried: the library may reuse it meanwhile.) */

    ASSERT_EQ(supervisor_container_state("good"), SUPERVISOR_STATE_NONE);
    ASSERT_OK(close(fd));
    free(reg);
    free(long_id);
    free(fifo);
    free(dir);
    ASSERT_OK(supervisor_shutdown());
}

TEST(bad_input_gc)
{
    char *root = h_setup("bad-gc", NULL);
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_FAILS(gc_add_container(NULL, "runc", &info), EINVAL);
    ASSERT_FAILS(gc_add_container("good", NULL, &info), EINVAL);
    ASSERT_FAILS(gc_add_container("good", "", &info), EINVAL);
    ASSERT_FAILS(gc_add_container("good", "runc", NULL), EINVAL);
    for (size_t i = 0; i < N_BAD_IDS; i++) {
        errno = 0;
        int r = gc_add_container(bad_ids[i], "runc", &info);
        ASSERT_MSG(r == -1 && errno == EINVAL, "id #%zu (\"%s\"): got %d errno %d, want -1/EINVAL", i,
                   bad_ids[i], r, errno);
        ASSERT(!gc_is_gc_progress(bad_ids[i]));
        ASSERT_EQ(supervisor_container_state(bad_ids[i]), SUPERVISOR_STATE_NONE);
    }
    ASSERT(!gc_is_gc_progress(NULL));
    ASSERT_EQ(supervisor_container_state(NULL), SUPERVISOR_STATE_NONE);
    ASSERT_EQ(tu_garbage_count(root), 0);
    ASSERT_OK(supervisor_shutdown());
}

TEST(bad_input_track)
{
    h_setup("bad-track", NULL);
    char *longpath = path_of_len(PATH_MAX);
    ASSERT_FAILS(supervisor_track_resource(NULL, SUPERVISOR_RES_PATH, "/tmp/x"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", SUPERVISOR_RES_PATH, NULL), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", SUPERVISOR_RES_PATH, ""), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", (supervisor_resource_kind_t)0, "/tmp/x"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", (supervisor_resource_kind_t)99, "/tmp/x"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", SUPERVISOR_RES_PATH, "relative"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", SUPERVISOR_RES_PATH, "/"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", SUPERVISOR_RES_PATH, "/tmp/../etc"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", SUPERVISOR_RES_MOUNT, "relative/mnt"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", SUPERVISOR_RES_CGROUP, "/absolute/cg"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", SUPERVISOR_RES_CGROUP, "a/../../b"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", SUPERVISOR_RES_RUNTIME, "relative"), EINVAL);
    ASSERT_FAILS(supervisor_track_resource("c", SUPERVISOR_RES_PATH, longpath), ENAMETOOLONG);
    for (size_t i = 0; i < N_BAD_IDS; i++) {
        errno = 0;
        int r = supervisor_track_resource(bad_ids[i], SUPERVISOR_RES_PATH, "/tmp/x");
        ASSERT_MSG(r == -1 && errno == EINVAL, "id #%zu (\"%s\"): got %d errno %d, want -1/EINVAL", i,
                   bad_ids[i], r, errno);
    }
    ASSERT_FAILS(supervisor_set_engine_ops(&(supervisor_engine_ops_t){ .struct_size = 1 }), EINVAL);
    free(longpath);
    ASSERT_OK(supervisor_shutdown());
}

static const tu_case cases[] = {
    TU_CASE(lifecycle_restart),
    TU_CASE(status_json),
    TU_CASE(options_accepted),
    TU_CASE(option_root_dir_env),
    TU_CASE(option_root_dir_env_child),
    TU_CASE(bad_options),
    TU_CASE(exit_record),
    TU_CASE(version),
    TU_CASE(bad_input_fifo),
    TU_CASE(bad_input_monitor),
    TU_CASE(bad_input_gc),
    TU_CASE(bad_input_track),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
