/* The shim's C helpers that need more than one call (see cshim.h). */
#define _GNU_SOURCE
#include "cshim.h"

static int saved_argc;
static char **saved_argv;

/* glibc passes (argc, argv, envp) to ELF constructors. */
__attribute__((constructor)) static void cs_save_args(int argc, char **argv) {
    saved_argc = argc;
    saved_argv = argv;
}

int cs_argc(void) { return saved_argc; }
const char *cs_argv(int i) { return i >= 0 && i < saved_argc ? saved_argv[i] : NULL; }

int cs_signalfd_open(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int cs_signalfd_read(int fd) {
    struct signalfd_siginfo si;
    for (;;) {
        ssize_t n = read(fd, &si, sizeof si);
        if (n == (ssize_t)sizeof si) return (int)si.ssi_signo;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0;
        return -1;
    }
}

int cs_pipe2(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int cs_accept(int fd, int nonblock) {
    for (;;) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0));
        if (c < 0 && errno == EINTR) continue;
        return c;
    }
}

int cs_recv_fd(int sock) {
    char data[4096];
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.buf, .msg_controllen = sizeof control.buf };
    ssize_t n;
    do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(sizeof(int))) {
        errno = EBADMSG;
        return -1;
    }
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

void cs_exec_child(char *const argv[], int in, int out, int err, const char *oom, size_t oom_len) {
    if (oom_len > 0) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) { ssize_t w = write(fd, oom, oom_len); (void)w; close(fd); }
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    signal(SIGPIPE, SIG_DFL);
    int fds[3] = { in, out, err };
    for (int target = 0; target < 3; target++) {
        if (fds[target] == target) {
            int flags = fcntl(target, F_GETFD);
            if (flags >= 0) fcntl(target, F_SETFD, flags & ~FD_CLOEXEC);
        } else if (dup2(fds[target], target) < 0) {
            _exit(127);
        }
    }
    execvp(argv[0], argv);
    _exit(127);
}
