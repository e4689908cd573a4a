/* The one log line of a failed call names the call, the failing syscall and
 * its path, then strerror (issue 10): "new_gchandler: mkdir /x/f/root: Not a
 * directory". errno returned to C is the syscall's, unchanged. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_line[8192];
static int last_level = -1;

static void capture_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    pthread_mutex_lock(&lines_lock);
    snprintf(last_line, sizeof(last_line), "%s", msg);
    last_level = level;
    pthread_mutex_unlock(&lines_lock);
}

static void install_capture(void)
{
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof(ops));
    ops.struct_size = sizeof(ops);
    ops.log = capture_log;
    ASSERT_OK(supervisor_set_engine_ops(&ops));
    last_line[0] = 0;
}

/* The line the failed call logged (on the calling thread, before it returned). */
static const char *failed_line(void)
{
    pthread_mutex_lock(&lines_lock);
    static char copy[sizeof(last_line)];
    memcpy(copy, last_line, sizeof(copy));
    pthread_mutex_unlock(&lines_lock);
    return copy;
}

/* <tmp>/file: a regular file, so any path below it fails with ENOTDIR. */
static char *file_in_tmp(const char *tag)
{
    char *dir = tu_mkdtemp(tag);
    char *file = tu_path_join(dir, "file");
    tu_write_file(file, "x", 1);
    return file;
}

TEST(errline_new_gchandler)
{
    char *file = file_in_tmp("errline-gc");
    char *root = tu_path_join(file, "root");
    install_capture();
    ASSERT_OK(supervisor_set_option("root_dir", root));
    ASSERT_FAILS(new_gchandler(), ENOTDIR);
    /* <tmp>/file exists (mkdir: EEXIST, fine); <tmp>/file/root cannot be made. */
    char *want = NULL;
    ASSERT(asprintf(&want, "new_gchandler: mkdir %s: %s", root, strerror(ENOTDIR)) > 0);
    ASSERT_MSG(strcmp(failed_line(), want) == 0, "logged \"%s\", want \"%s\"", failed_line(), want);
    ASSERT_EQ(last_level, 3);  /* syslog error */
    free(want);
    free(root);
    free(file);
}

TEST(errline_fifo_create)
{
    char *file = file_in_tmp("errline-fifo");
    install_capture();
    errno = 0;
    ASSERT(container_exit_fifo_create(file) == NULL);
    ASSERT_EQ(errno, ENOTDIR);
    char *want = NULL;
    ASSERT(asprintf(&want, "container_exit_fifo_create: mkfifo %s/exit_fifo: %s", file, strerror(ENOTDIR)) > 0);
    ASSERT_MSG(strcmp(failed_line(), want) == 0, "logged \"%s\", want \"%s\"", failed_line(), want);
    free(want);
    free(file);
}

TEST(errline_track_resource)
{
    install_capture();
    ASSERT_FAILS(supervisor_track_resource("errline", SUPERVISOR_RES_PATH, "relative/x"), EINVAL);
    const char *line = failed_line();
    ASSERT_MSG(strncmp(line, "supervisor_track_resource: ", 27) == 0, "line does not start with the call: %s", line);
    ASSERT_MSG(strstr(line, "relative/x") != NULL, "line does not name the refused value: %s", line);
    ASSERT_OK(supervisor_shutdown());
}

static const tu_case cases[] = {
    TU_CASE(errline_new_gchandler),
    TU_CASE(errline_fifo_create),
    TU_CASE(errline_track_resource),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
