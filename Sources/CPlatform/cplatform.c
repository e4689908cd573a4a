/* The GNU extensions cplatform.h declares; the rest of CPlatform is static
 * inline in the header. Not exported from libsupervisor.so (version script). */
#define _GNU_SOURCE
#include <pthread.h>
#include <spawn.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include "cplatform.h"

int cp_spawn_addchdir(posix_spawn_file_actions_t *a, const char *dir) {
    return posix_spawn_file_actions_addchdir_np(a, dir);
}

short cp_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }

void cp_set_thread_name(const char *name) {
    pthread_setname_np(pthread_self(), name);
}

int cp_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

int cp_is_mount_root(int dirfd, const char *name) {
#ifdef STATX_ATTR_MOUNT_ROOT
    struct statx stx;
    if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &stx) != 0) return -1;
    if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) return -1;
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ? 1 : 0;
#else
    (void)dirfd; (void)name;
    return -1;
#endif
}
