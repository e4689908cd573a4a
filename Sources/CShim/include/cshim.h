/* The C side of the Embedded-Swift shim: the libc and yajl headers it uses
 * (the Glibc module is not importable in Embedded mode), and thin helpers
 * for what Swift cannot call (variadic functions, macros, cmsghdr). All
 * static inline except what cshim.c defines. */
#ifndef CSHIM_H
#define CSHIM_H
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static inline int cs_errno(void) { return errno; }
static inline void cs_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }
static inline int cs_open(const char *path, int flags, unsigned int mode) {
    return open(path, flags | O_CLOEXEC, mode);
}
static inline int cs_openat(int dirfd, const char *path, int flags, unsigned int mode) {
    return openat(dirfd, path, flags | O_CLOEXEC, mode);
}
static inline int cs_set_nonblock(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
static inline int cs_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0u); }
static inline int cs_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, (void *)0, 0u);
}
static inline int cs_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
static inline int cs_wifsignaled(int s) { return WIFSIGNALED(s); }
static inline int cs_wtermsig(int s) { return WTERMSIG(s); }
static inline int cs_wexitstatus(int s) { return WEXITSTATUS(s); }
static inline int cs_s_isfifo(unsigned int m) { return S_ISFIFO(m); }
static inline int cs_s_isreg(unsigned int m) { return S_ISREG(m); }
static inline int cs_set_winsize(int fd, unsigned short cols, unsigned short rows) {
    struct winsize ws = { .ws_row = rows, .ws_col = cols };
    return ioctl(fd, TIOCSWINSZ, &ws);
}
static inline int cs_is_tty(int fd) { struct termios t; return tcgetattr(fd, &t) == 0; }
static inline void cs_yajl_gen_configure(yajl_gen g) {
    yajl_gen_config(g, yajl_gen_beautify, 0);
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);
}

/* argc/argv, saved by a constructor (Embedded Swift has no CommandLine). */
int cs_argc(void);
const char *cs_argv(int i);
/* Blocks SIGCHLD, SIGTERM, SIGHUP, SIGINT and returns a signalfd for them
 * (non-blocking, close-on-exec), -1 with errno on failure. */
int cs_signalfd_open(void);
/* Reads one signal from the signalfd: its number, 0 when none, -1 on error. */
int cs_signalfd_read(int fd);
/* pipe2 with O_CLOEXEC. */
int cs_pipe2(int fds[2]);
/* accept4 with SOCK_CLOEXEC (and SOCK_NONBLOCK when nonblock). */
int cs_accept(int fd, int nonblock);
/* Receives one fd sent with SCM_RIGHTS on a connected socket (close-on-exec);
 * -1 with errno (EBADMSG when the message carries no fd). */
int cs_recv_fd(int sock);
/* Child side of fork: oom_score_adj restored, signal mask and SIGPIPE reset,
 * fds 0-2 set up, argv[0] exec'd through PATH. Never returns. */
void cs_exec_child(char *const argv[], int in, int out, int err, const char *oom, size_t oom_len)
    __attribute__((noreturn));
#endif
