/* Issue 9: attacks an unlucky or hostile environment makes on the library's
 * readers and cleaner (deep nesting, NUL in ids, symlinked path components,
 * full filesystems, bad runtime names, big GC lists). Each case failed on the
 * code before the fix. */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* The name of the one garbage.json.corrupt-<digits> in root (malloc()ed), or NULL. */
static char *corrupt_copy(const char *root)
{
    DIR *d = opendir(root);
    ASSERT(d != NULL);
    char *found = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *pfx = "garbage.json.corrupt-";
        if (strncmp(de->d_name, pfx, strlen(pfx)) != 0) continue;
        ASSERT_MSG(found == NULL, "two corrupt copies in %s", root);
        found = tu_path_join(root, de->d_name);
    }
    closedir(d);
    return found;
}

/* "<prefix>" + n × open + n × close + "<suffix>", malloc()ed. */
static char *nested(const char *prefix, size_t n, char open, char close, const char *suffix, size_t *len)
{
    size_t p = strlen(prefix), s = strlen(suffix);
    char *buf = malloc(p + 2 * n + s + 1);
    ASSERT(buf != NULL);
    memcpy(buf, prefix, p);
    memset(buf + p, open, n);
    memset(buf + p + n, close, n);
    memcpy(buf + p + 2 * n, suffix, s + 1);
    *len = p + 2 * n + s;
    return buf;
}

/* Item 1: a 2 MB garbage.json nested a million deep is quarantined, not a
 * stack overflow in the parser (before: SIGSEGV in new_gchandler). */
TEST(harden_deep_garbage)
{
    char *root = tu_setup_root("harden-deep");
    tu_install_recorder(NULL);
    size_t len = 0;
    char *text = nested("{\"GcContainers\":[],\"x\":", 1000000, '[', ']', "}", &len);
    char *path = tu_path_join(root, "garbage.json");
    tu_write_file(path, text, len);
    ASSERT_OK(new_gchandler());
    ASSERT_MSG(!tu_exists(path), "deeply nested garbage.json left in place");
    char *kept = corrupt_copy(root);
    ASSERT_MSG(kept != NULL, "no garbage.json.corrupt-<unix-time> in %s", root);
    ASSERT_MSG(tu_events_wait(tu_logs, "3", 1, H_WAIT_MS), "quarantine not logged at error");
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container("after-deep", "runc", &info));
    ASSERT_EQ(tu_garbage_count(root), 1);
    /* Objects nest too, and a deep value inside an entry is no better. */
    ASSERT_OK(supervisor_shutdown());
    ASSERT_OK(unlink(kept));
    free(text);
    size_t n = 300000;
    char *objs = malloc(n * 6 + 128);
    ASSERT(objs != NULL);
    size_t o = 0;
    o += (size_t)sprintf(objs, "{\"GcContainers\":[{\"id\":\"d\",\"runtime\":\"runc\",\"k\":");
    for (size_t i = 0; i < n; i++) { memcpy(objs + o, "{\"a\":", 5); o += 5; }
    objs[o++] = '1';
    memset(objs + o, '}', n);
    o += n;
    o += (size_t)sprintf(objs + o, "}]}");
    tu_write_file(path, objs, o);
    ASSERT_OK(new_gchandler());
    ASSERT_MSG(!gc_is_gc_progress("d"), "deeply nested entry restored");
    free(kept);
    kept = corrupt_copy(root);
    ASSERT_MSG(kept != NULL, "deep object nesting not quarantined");
    free(objs);
    free(kept);
    free(path);
    ASSERT_OK(supervisor_shutdown());
}

/* Item 1, exit records: deep nesting (up to the 4 KiB limit) and comments
 * are EINVAL (before: a commented record was accepted). */
TEST(harden_exit_record_shapes)
{
    char *dir = tu_mkdtemp("harden-exit");
    char *file = tu_path_join(dir, "exit.json");
    int code = -1;
    size_t len = 0;
    char *deep = nested("", 2040, '[', ']', "", &len);
    tu_write_file(file, deep, len);
    ASSERT_FAILS(supervisor_exit_record(dir, &code), EINVAL);
    static const char comment[] = "{\"exit_code\":3,/* the shim never writes this */\"signal\":0,\"pid\":123,"
                                  "\"start_time\":456,\"time\":\"2024-01-02T03:04:05.123456789Z\"}";
    tu_write_file(file, comment, strlen(comment));
    ASSERT_FAILS(supervisor_exit_record(dir, &code), EINVAL);
    static const char good[] = "{\"exit_code\":3,\"signal\":0,\"pid\":123,"
                               "\"start_time\":456,\"time\":\"2024-01-02T03:04:05.123456789Z\"}";
    tu_write_file(file, good, strlen(good));
    ASSERT_OK(supervisor_exit_record(dir, &code));
    ASSERT_EQ(code, 3);
    free(deep);
    free(file);
}

/* Comments in garbage.json are refused: the file is quarantined (before:
 * accepted, although the parser's documentation said refused). */
TEST(harden_garbage_comments)
{
    char *root = tu_setup_root("harden-comment");
    tu_install_recorder(NULL);
    static const char text[] = "{\"GcContainers\":[ // iSulad never writes this\n"
                               "{\"id\":\"c1\",\"runtime\":\"runc\",\"pid\":1}]}";
    char *path = tu_path_join(root, "garbage.json");
    tu_write_file(path, text, strlen(text));
    ASSERT_OK(new_gchandler());
    ASSERT(!gc_is_gc_progress("c1"));
    char *kept = corrupt_copy(root);
    ASSERT_MSG(kept != NULL, "garbage.json with a comment not quarantined");
    free(kept);
    free(path);
    ASSERT_OK(supervisor_shutdown());
}

/* Item 5 (and 7 for restored runtimes): an entry whose id, runtime or
 * tracked path fails the API's validation is skipped with an error line and
 * kept in the file as it was; it never replaces a valid entry. */
TEST(harden_restored_entries_validated)
{
    char *root = tu_setup_root("harden-nul");
    tu_install_recorder(NULL);
    static const char text[] =
        "{\"GcContainers\":["
        "{\"id\":\"victim\",\"runtime\":\"runc\",\"pid\":11,\"StartTime\":5},"
        "{\"id\":\"victim\\u0000other\",\"runtime\":\"kata\",\"pid\":22,\"StartTime\":6},"
        "{\"id\":\"empty-runtime\",\"runtime\":\"\",\"pid\":23},"
        "{\"id\":\"dotdot-runtime\",\"runtime\":\"c/../x\",\"pid\":24},"
        "{\"id\":\"bad-path\",\"runtime\":\"runc\",\"pid\":25,"
        "\"supervisor_resources\":[{\"kind\":\"path\",\"value\":\"/a/../etc\",\"busy\":0}]},"
        "{\"id\":\"victim\",\"runtime\":\"lcr\",\"pid\":26}"
        "]}";
    char *path = tu_path_join(root, "garbage.json");
    tu_write_file(path, text, strlen(text));
    ASSERT_OK(new_gchandler());
    ASSERT(gc_is_gc_progress("victim"));
    ASSERT(!gc_is_gc_progress("empty-runtime"));
    ASSERT(!gc_is_gc_progress("dotdot-runtime"));
    ASSERT(!gc_is_gc_progress("bad-path"));
    ASSERT_MSG(tu_events_wait(tu_logs, "3", 5, H_WAIT_MS), "only %d error lines for 5 bad entries",
               tu_events_count(tu_logs, "3"));
    ASSERT_MSG(corrupt_copy(root) == NULL, "file quarantined for bad entries");

    char *status = supervisor_status_json();
    ASSERT(status != NULL);
    yajl_val st = tu_json_parse(status);
    yajl_val gc = tu_json_get(st, "gc");
    ASSERT(gc != NULL && YAJL_IS_ARRAY(gc));
    ASSERT_EQ(gc->u.array.len, 1);
    ASSERT_STREQ(tu_json_str(gc->u.array.values[0], "id"), "victim");
    ASSERT_STREQ(tu_json_str(gc->u.array.values[0], "runtime"), "runc");
    ASSERT_EQ(tu_json_int(gc->u.array.values[0], "pid"), 11);
    yajl_tree_free(st);
    free(status);

    /* A rewrite keeps the refused entries, byte for byte where it matters. */
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container("another", "runc", &info));
    char *after = tu_read_file(path, NULL);
    ASSERT(after != NULL);
    ASSERT_MSG(strstr(after, "\"id\":\"victim\\u0000other\",\"runtime\":\"kata\",\"pid\":22") != NULL,
               "NUL entry not kept: %s", after);
    ASSERT_MSG(strstr(after, "\"runtime\":\"c/../x\"") != NULL, "bad-runtime entry not kept");
    ASSERT_MSG(strstr(after, "\"/a/../etc\"") != NULL, "bad-path entry not kept");
    ASSERT_MSG(strstr(after, "\"runtime\":\"lcr\",\"pid\":26") != NULL, "duplicate entry not kept");
    ASSERT_MSG(strstr(after, "\"id\":\"victim\",\"runtime\":\"runc\",\"pid\":11") != NULL, "victim changed");
    yajl_val tree = tu_garbage_load(root);
    ASSERT(tree != NULL);
    ASSERT_EQ(tu_garbage_list(tree)->u.array.len, 7);
    yajl_tree_free(tree);
    free(after);

    /* gc_restore does not duplicate them either. */
    ASSERT_OK(gc_restore());
    ASSERT_OK(gc_add_container("third", "runc", &info));
    ASSERT_EQ(tu_garbage_count(root), 8);
    free(path);
    ASSERT_OK(supervisor_shutdown());
}

/* Item 3: a symlink in a middle component of a tracked PATH is not
 * followed: nothing is removed behind it, a warning is logged, and the
 * resource counts as released (before: the files behind the link went). */
TEST(harden_path_symlink_middle)
{
    char *root = h_setup("harden-link", NULL);
    char *outside = tu_mkdtemp("harden-link-outside");
    char *osub = tu_path_join(outside, "sub");
    tu_mkdir(osub);
    char *victim = tu_path_join(osub, "victim");
    tu_write_file(victim, "keep", 4);

    char *t2 = tu_path_join(root, "t2");
    tu_mkdir(t2);
    char *link = tu_path_join(t2, "link");
    ASSERT_OK(symlink(outside, link));
    char *tracked = tu_path_join(link, "sub");

    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, "linked", &info, "runc");
    ASSERT_OK(supervisor_track_resource("linked", SUPERVISOR_RES_PATH, tracked));
    int warnings = tu_events_count(tu_logs, "4");
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    h_expect_stopped("linked", info.pid, 0);
    h_reap_shim(shim);
    ASSERT_MSG(tu_exists(victim), "%s behind the symlink %s was removed", victim, link);
    ASSERT_MSG(tu_exists(link), "the symlink itself was removed");
    ASSERT_EQ(supervisor_container_state("linked"), SUPERVISOR_STATE_NONE);
    ASSERT_MSG(tu_events_wait(tu_logs, "4", warnings + 1, H_WAIT_MS), "no warning about the symlinked component");
    free(fifo);
    free(tracked);
    free(link);
    free(t2);
    free(victim);
    free(osub);
    ASSERT_OK(supervisor_shutdown());
}

/* A private mount namespace, so test mounts vanish with this process. */
static void private_mounts(void)
{
    ASSERT_MSG(unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS): %s", strerror(errno));
    ASSERT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
}

/* Item 6: supervisor_shutdown() whose final write of the GC list fails
 * (a full tmpfs) returns -1 with that errno, and the status says so
 * (before: 0). */
TEST(harden_shutdown_write_fails)
{
    private_mounts();
    char *root = tu_mkdtemp("harden-full");
    ASSERT_OK(mount("tmpfs", root, "tmpfs", 0, "size=64k,mode=0700"));
    ASSERT_OK(supervisor_set_option("root_dir", root));
    tu_install_recorder(NULL);
    ASSERT_OK(new_gchandler());
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container("before-full", "runc", &info));

    /* Fill the filesystem. */
    char *filler = tu_path_join(root, "filler");
    int fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT(fd >= 0);
    static char block[4096];
    while (write(fd, block, sizeof(block)) > 0) {}
    ASSERT_EQ(errno, ENOSPC);
    close(fd);

    ASSERT_FAILS(gc_add_container("in-memory-only", "runc", &info), ENOSPC);
    char *status = supervisor_status_json();
    ASSERT(status != NULL);
    ASSERT_MSG(strstr(status, "\"gc_write_error\":\"") != NULL, "status does not report the failing write: %s",
               status);
    free(status);
    ASSERT_FAILS(supervisor_shutdown(), ENOSPC);
    status = supervisor_status_json();
    ASSERT(status != NULL);
    ASSERT_MSG(strstr(status, "\"gc_write_error\":\"") != NULL && strstr(status, "No space left") != NULL,
               "status after the failed shutdown does not say so: %s", status);
    free(status);

    /* Space back: the next engine start writes again and the status clears. */
    ASSERT_OK(unlink(filler));
    ASSERT_OK(new_gchandler());
    ASSERT(gc_is_gc_progress("before-full"));
    ASSERT_OK(gc_add_container("after-full", "runc", &info));
    status = supervisor_status_json();
    ASSERT_MSG(strstr(status, "\"gc_write_error\":null") != NULL, "stale write error: %s", status);
    free(status);
    ASSERT_OK(supervisor_shutdown());
    free(filler);
    ASSERT_OK(umount2(root, MNT_DETACH));
}

/* Item 6 on a read-only filesystem: EROFS. */
TEST(harden_shutdown_read_only)
{
    private_mounts();
    char *root = tu_mkdtemp("harden-ro");
    ASSERT_OK(mount("tmpfs", root, "tmpfs", 0, "size=1m,mode=0700"));
    ASSERT_OK(supervisor_set_option("root_dir", root));
    tu_install_recorder(NULL);
    ASSERT_OK(new_gchandler());
    pid_ppid_info_t info = tu_dead_info();
    ASSERT_OK(gc_add_container("before-ro", "runc", &info));
    ASSERT_OK(mount(NULL, root, NULL, MS_REMOUNT | MS_RDONLY, NULL));
    ASSERT_FAILS(gc_add_container("in-memory-only", "runc", &info), EROFS);
    ASSERT_FAILS(supervisor_shutdown(), EROFS);
    ASSERT_OK(mount(NULL, root, NULL, MS_REMOUNT, NULL));
    ASSERT_OK(umount2(root, MNT_DETACH));
}

/* Item 7: one runtime validator for the API: a bare name found through
 * PATH, or an absolute path without "." or ".." components. */
TEST(harden_runtime_names)
{
    char *root = h_setup("harden-runtime", NULL);
    pid_ppid_info_t info = tu_dead_info();
    static const char *const bad[] = {
        "run c/../x", "", "c/x", "./runc", "bin/runc", "..", ".", "/usr/bin/../bin/runc",
        "/usr/./bin/runc", "/usr/bin/", "/", "run\nc",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        int r = gc_add_container("rt", bad[i], &info);
        ASSERT_MSG(r == -1 && errno == EINVAL, "gc_add_container runtime \"%s\": %d/%s", bad[i], r, strerror(errno));
        char *dir = tu_path_join(root, "rt");
        tu_mkdir(dir);
        char *fifo = container_exit_fifo_create(dir);
        ASSERT(fifo != NULL);
        int fd = container_exit_fifo_open(fifo);
        ASSERT(fd >= 0);
        errno = 0;
        r = container_supervisor_add_exit_monitor(fd, &info, "rt", bad[i]);
        ASSERT_MSG(r == -1 && errno == EINVAL, "add_exit_monitor runtime \"%s\": %d/%s", bad[i], r, strerror(errno));
        close(fd);
        free(fifo);
        free(dir);
    }
    ASSERT_OK(gc_add_container("rt-bare", "runc", &info));
    ASSERT_OK(gc_add_container("rt-abs", "/usr/sbin/runc", &info));
    ASSERT_OK(gc_add_container("rt-dots", "my.runtime-v2", &info));
    ASSERT_OK(supervisor_shutdown());
}

/* A closed fd is EBADF (before: EINVAL); a negative fd stays EINVAL. */
TEST(harden_monitor_closed_fd)
{
    h_setup("harden-ebadf", NULL);
    pid_ppid_info_t info = tu_dead_info();
    int fds[2];
    ASSERT_OK(pipe(fds));
    close(fds[0]);
    close(fds[1]);
    ASSERT_FAILS(container_supervisor_add_exit_monitor(fds[0], &info, "ebadf", "runc"), EBADF);
    ASSERT_FAILS(container_supervisor_add_exit_monitor(-1, &info, "ebadf", "runc"), EINVAL);
    ASSERT_OK(supervisor_shutdown());
}

/* gc_retry_initial_ms above gc_retry_max_ms is refused, whichever is set
 * second (before: accepted). */
TEST(harden_retry_options)
{
    ASSERT_OK(supervisor_set_option("gc_retry_initial_ms", "100"));
    ASSERT_OK(supervisor_set_option("gc_retry_max_ms", "1000"));
    ASSERT_FAILS(supervisor_set_option("gc_retry_initial_ms", "1001"), EINVAL);
    ASSERT_FAILS(supervisor_set_option("gc_retry_max_ms", "99"), EINVAL);
    ASSERT_OK(supervisor_set_option("gc_retry_initial_ms", "1000"));
    ASSERT_OK(supervisor_set_option("gc_retry_max_ms", "1000"));
    ASSERT_OK(supervisor_set_option("gc_retry_max_ms", "20000"));
    ASSERT_OK(supervisor_set_option("gc_retry_initial_ms", "15000"));
}

/* A big garbage.json (128k entries, ~60 MB) loads with a bounded peak RSS
 * (before: 711 MB). Runs in a child so the peak is its own. Under ASan/TSan
 * (their *_OPTIONS set by mk/sanitizers.mk) the list is 8x smaller and the
 * RSS bound is not checked: the sanitizers' own memory dominates. */
#define BIG_ENTRIES 131072
#define BIG_RSS_LIMIT_KB (200 * 1024)

static bool under_sanitizer(void) { return getenv("ASAN_OPTIONS") != NULL || getenv("TSAN_OPTIONS") != NULL; }
static int big_entries(void) { return under_sanitizer() ? BIG_ENTRIES / 8 : BIG_ENTRIES; }

static char *big_id(int i)
{
    char *id = NULL;
    ASSERT(asprintf(&id, "big-%06d-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", i) > 0);
    return id;
}

TEST(harden_big_garbage_child)
{
    ASSERT_OK(new_gchandler());
    struct rusage ru;
    ASSERT_OK(getrusage(RUSAGE_SELF, &ru));
    int n = big_entries();
    tu_log("peak RSS after loading %d entries: %ld KiB", n, ru.ru_maxrss);
    char *first = big_id(0), *last = big_id(n - 1);
    ASSERT(gc_is_gc_progress(first));
    ASSERT(gc_is_gc_progress(last));
    if (!under_sanitizer())
        ASSERT_MSG(ru.ru_maxrss < BIG_RSS_LIMIT_KB, "peak RSS %ld KiB while loading (limit %d KiB)", ru.ru_maxrss,
                   BIG_RSS_LIMIT_KB);
    free(first);
    free(last);
    ASSERT_OK(supervisor_shutdown());
}

TEST(harden_big_garbage)
{
    char *root = tu_mkdtemp("harden-big");
    char *path = tu_path_join(root, "garbage.json");
    FILE *f = fopen(path, "we");
    ASSERT(f != NULL);
    int n = big_entries();
    fputs("{\"GcContainers\":[", f);
    for (int i = 0; i < n; i++) {
        char *id = big_id(i);
        fprintf(f,
                "%s{\"id\":\"%s\",\"runtime\":\"runc\","
                "\"pid\":%d,\"StartTime\":%d,\"ppid\":%d,\"PStartTime\":%d,\"supervisor_resources\":["
                "{\"kind\":\"path\",\"value\":\"/var/lib/isulad/engines/lcr/big-%06d/rootfs-scratch/a\",\"busy\":0},"
                "{\"kind\":\"cgroup\",\"value\":\"isulad/big-%06d-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"busy\":0},"
                "{\"kind\":\"mount\",\"value\":\"/var/lib/isulad/mnt/big-%06d/merged\",\"busy\":0}],"
                "\"supervisor_attempts\":3}",
                i ? "," : "", id, 100000 + i, 5000 + i, 200000 + i, 4000 + i, i, i, i);
        free(id);
    }
    fputs("]}", f);
    ASSERT_OK(fclose(f));
    struct stat st;
    ASSERT_OK(stat(path, &st));
    tu_log("garbage.json of %d entries: %lld bytes", n, (long long)st.st_size);
    char env[PATH_MAX + 32];
    snprintf(env, sizeof(env), "SUPERVISOR_ROOT_DIR=%s", root);
    const char *const extra[] = {env, NULL};
    pid_t child = tu_spawn_self("harden_big_garbage_child", extra);
    int status = 0;
    ASSERT_MSG(tu_reap(child, 100000, &status), "loading child did not finish");
    ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "loading child: wait status 0x%x", status);
    free(path);
}

static const tu_case cases[] = {
    TU_CASE(harden_deep_garbage),
    TU_CASE(harden_exit_record_shapes),
    TU_CASE(harden_garbage_comments),
    TU_CASE(harden_restored_entries_validated),
    TU_CASE(harden_path_symlink_middle),
    TU_CASE(harden_shutdown_write_fails),
    TU_CASE(harden_shutdown_read_only),
    TU_CASE(harden_runtime_names),
    TU_CASE(harden_monitor_closed_fd),
    TU_CASE(harden_retry_options),
    TU_CASE(harden_big_garbage),
    TU_CASE(harden_big_garbage_child),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
