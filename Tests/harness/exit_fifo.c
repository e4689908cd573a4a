/* Exit FIFO helpers: exit_fifo_name, container_exit_fifo_create, container_exit_fifo_open. */
#include "testutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(fifo_name)
{
    char *n = exit_fifo_name("/run/isulad/c1");
    ASSERT_STREQ(n, "/run/isulad/c1/exit_fifo");
    free(n);
    /* Only a name: the directory need not exist. */
    n = exit_fifo_name("/nonexistent/dir");
    ASSERT_STREQ(n, "/nonexistent/dir/exit_fifo");
    free(n);
}

TEST(fifo_create)
{
    char *dir = tu_mkdtemp("fifo-create");
    umask(0); /* 0600 must come from the library, not from the umask */
    char *path = container_exit_fifo_create(dir);
    ASSERT_MSG(path != NULL, "container_exit_fifo_create: %s", strerror(errno));
    char *expect = exit_fifo_name(dir);
    ASSERT_STREQ(path, expect);

    struct stat st;
    ASSERT_OK(lstat(path, &st));
    ASSERT_MSG(S_ISFIFO(st.st_mode), "not a FIFO: mode %o", (unsigned)st.st_mode);
    ASSERT_EQ(st.st_mode & 07777, 0600);

    /* An existing FIFO is fine, and is left as it was. */
    char *again = container_exit_fifo_create(dir);
    ASSERT_MSG(again != NULL, "second create: %s", strerror(errno));
    ASSERT_STREQ(again, expect);
    struct stat st2;
    ASSERT_OK(lstat(path, &st2));
    ASSERT_EQ(st2.st_ino, st.st_ino);
    free(again);
    free(expect);
    free(path);
}

TEST(fifo_create_refuses)
{
    char *dir = tu_mkdtemp("fifo-refuse");
    char *path = tu_path_join(dir, "exit_fifo");

    /* A regular file in the way. */
    tu_write_file(path, "x", 1);
    ASSERT_NULL_ERRNO(container_exit_fifo_create(dir), EEXIST);
    struct stat st;
    ASSERT_OK(lstat(path, &st));
    ASSERT(S_ISREG(st.st_mode)); /* untouched */
    ASSERT_OK(unlink(path));

    /* A symlink to a FIFO is still a symlink: refused. */
    char *real = tu_path_join(dir, "real_fifo");
    ASSERT_OK(mkfifo(real, 0600));
    ASSERT_OK(symlink(real, path));
    ASSERT_NULL_ERRNO(container_exit_fifo_create(dir), EEXIST);
    ASSERT_OK(lstat(path, &st));
    ASSERT(S_ISLNK(st.st_mode));
    ASSERT_OK(unlink(path));

    /* A dangling symlink. */
    ASSERT_OK(symlink("/nonexistent/target", path));
    ASSERT_NULL_ERRNO(container_exit_fifo_create(dir), EEXIST);
    ASSERT_OK(unlink(path));

    /* A directory. */
    ASSERT_OK(mkdir(path, 0700));
    ASSERT_NULL_ERRNO(container_exit_fifo_create(dir), EEXIST);
    ASSERT_OK(rmdir(path));

    /* A missing state dir. */
    char *missing = tu_path_join(dir, "missing");
    ASSERT_NULL_ERRNO(container_exit_fifo_create(missing), ENOENT);
    free(missing);
    free(real);
    free(path);
}

TEST(fifo_open)
{
    char *dir = tu_mkdtemp("fifo-open");
    char *path = container_exit_fifo_create(dir);
    ASSERT(path != NULL);
    /* Opening the read end must not block although no writer exists. */
    int fd = container_exit_fifo_open(path);
    ASSERT_MSG(fd >= 0, "container_exit_fifo_open: %s", strerror(errno));
    int fdflags = fcntl(fd, F_GETFD);
    ASSERT(fdflags >= 0);
    ASSERT_MSG(fdflags & FD_CLOEXEC, "FD_CLOEXEC missing");
    int flflags = fcntl(fd, F_GETFL);
    ASSERT(flflags >= 0);
    ASSERT_MSG(flflags & O_NONBLOCK, "O_NONBLOCK missing");
    ASSERT_EQ(flflags & O_ACCMODE, O_RDONLY);
    struct stat st;
    ASSERT_OK(fstat(fd, &st));
    ASSERT(S_ISFIFO(st.st_mode));
    /* No writer yet: a read is EOF or EAGAIN, never a block. */
    char b;
    errno = 0;
    ssize_t r = read(fd, &b, 1);
    ASSERT_MSG(r == 0 || (r < 0 && errno == EAGAIN), "read %zd errno %d", r, errno);
    ASSERT_OK(close(fd));
    free(path);
}

TEST(fifo_open_refuses)
{
    char *dir = tu_mkdtemp("fifo-open-refuse");
    char *fifo = container_exit_fifo_create(dir);
    ASSERT(fifo != NULL);

    /* Symlink to a valid FIFO: refused (header: ELOOP). */
    char *link = tu_path_join(dir, "link_fifo");
    ASSERT_OK(symlink(fifo, link));
    errno = 0;
    int fd = container_exit_fifo_open(link);
    int e = errno;
    if (fd >= 0) close(fd);
    ASSERT_MSG(fd == -1, "symlink accepted");
    ASSERT_MSG(e == ELOOP, "symlink: errno %d (%s), want ELOOP", e, strerror(e));

    /* Regular file: refused after fstat (EINVAL). */
    char *reg = tu_path_join(dir, "regular");
    tu_write_file(reg, "abcd", 4);
    errno = 0;
    fd = container_exit_fifo_open(reg);
    e = errno;
    if (fd >= 0) close(fd);
    ASSERT_MSG(fd == -1, "regular file accepted");
    ASSERT_MSG(e == EINVAL, "regular file: errno %d (%s), want EINVAL", e, strerror(e));

    /* Directory: refused. */
    errno = 0;
    fd = container_exit_fifo_open(dir);
    e = errno;
    if (fd >= 0) close(fd);
    ASSERT_MSG(fd == -1, "directory accepted");
    ASSERT_MSG(e != 0, "directory: errno not set");

    /* Missing path: ENOENT. */
    char *missing = tu_path_join(dir, "missing");
    ASSERT_FAILS(container_exit_fifo_open(missing), ENOENT);
    free(missing);
    free(reg);
    free(link);
    free(fifo);
}

static const tu_case cases[] = {
    TU_CASE(fifo_name),
    TU_CASE(fifo_create),
    TU_CASE(fifo_create_refuses),
    TU_CASE(fifo_open),
    TU_CASE(fifo_open_refuses),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
