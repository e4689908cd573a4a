/* Only what neither Swift's Glibc module nor swift-system offers: syscalls
 * without a libc wrapper (pidfd_*, openat2), wait-status macros, variadic
 * yajl_gen_config, and GNU extensions (in cplatform.c). The system headers
 * included here also give Swift the epoll/eventfd/inotify/timerfd/mount
 * declarations. Nothing here is exported from libsupervisor.so. */
#ifndef CPLATFORM_H
#define CPLATFORM_H
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static inline int cp_pidfd_open(int pid, unsigned int flags) {
    return (int)syscall(SYS_pidfd_open, pid, flags);
}
static inline int cp_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, (void *)0, 0u);
}
/* openat2 with RESOLVE_NO_SYMLINKS (no symlink, magic link included, in any
 * component). -1/ENOSYS where the kernel (or a seccomp filter) lacks it. */
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
struct cp_open_how { uint64_t flags, mode, resolve; };
static inline int cp_openat2_no_symlinks(int dirfd, const char *path, int flags) {
    struct cp_open_how how = { (uint64_t)(flags | O_CLOEXEC), 0, 0x04 /* RESOLVE_NO_SYMLINKS */ };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}
static inline int cp_wexitstatus(int s) { return WEXITSTATUS(s); }
static inline int cp_wifsignaled(int s) { return WIFSIGNALED(s); }
static inline int cp_wtermsig(int s) { return WTERMSIG(s); }


#include <yajl/yajl_gen.h>
/* yajl_gen_config is variadic: configure a compact, UTF-8-validating generator. */
static inline void cp_yajl_gen_configure(yajl_gen g) {
    yajl_gen_config(g, yajl_gen_beautify, 0);
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);
}


#include <spawn.h>
/* GNU extensions, defined in cplatform.c (built with _GNU_SOURCE) so this
 * header does not change libc's struct layouts for Swift's Glibc module. */
int cp_spawn_addchdir(posix_spawn_file_actions_t *a, const char *dir);
short cp_spawn_setsid_flag(void);
void cp_set_thread_name(const char *name);
int cp_pipe2(int fds[2], int flags);
/* 1 when dirfd/name (not followed) is the root of a mount, 0 when not,
 * -1 when the kernel cannot tell (statx without STATX_ATTR_MOUNT_ROOT). */
int cp_is_mount_root(int dirfd, const char *name);
extern char **environ;
static inline char **cp_environ(void) { return environ; }


#endif
