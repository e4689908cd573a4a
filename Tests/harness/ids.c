/*
 * Container ids become directory names and runtime arguments: ids that would
 * read as an option, name the directory itself, or are not UTF-8 (and would
 * be silently repaired into another id) are refused with EINVAL.
 */
#include "harness.h"

TEST(ids_refused)
{
    tu_setup_root("ids");
    const char *bad[] = { "-rf", "--help", ".", "a/b", "..", "x..y", "tab\there", "\xff\xfe" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        ASSERT_MSG(supervisor_track_resource(bad[i], SUPERVISOR_RES_PATH, "/tmp/x") == -1 && errno == EINVAL,
                   "track_resource accepted id #%zu (errno %d)", i, errno);
        pid_ppid_info_t info = { 0 };
        errno = 0;
        ASSERT_MSG(gc_add_container(bad[i], "runc", &info) == -1 && errno == EINVAL,
                   "gc_add_container accepted id #%zu (errno %d)", i, errno);
        ASSERT(!gc_is_gc_progress(bad[i]));
        ASSERT_EQ(supervisor_container_state(bad[i]), SUPERVISOR_STATE_NONE);
    }
    /* Ordinary ids, iSulad's 64 hex characters included, are fine. */
    pid_ppid_info_t info = { 0 };
    ASSERT_OK(gc_add_container("web-1.prod_x", "runc", &info));
    ASSERT_OK(gc_add_container("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "runc", &info));
    ASSERT_OK(supervisor_shutdown());
}

/* A non-UTF-8 state dir would be "repaired" into another path: refused. */
TEST(paths_not_utf8_refused)
{
    errno = 0;
    ASSERT(exit_fifo_name("/tmp/\xff") == NULL && errno == EINVAL);
    errno = 0;
    ASSERT(container_exit_fifo_open("/tmp/\xfe\xff/exit_fifo") == -1 && errno == EINVAL);
}

static const tu_case cases[] = {
    TU_CASE(ids_refused),
    TU_CASE(paths_not_utf8_refused),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
