/*
 * File-descriptor hygiene: everything the library opens is close-on-exec, and
 * shutdown closes what it opened (no fd leaks into the engine's children, no
 * fd leak across restarts).
 */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* fds the test runner handed us (ctest keeps its log open): not ours to judge. */
static bool inherited[4096];

static void note_inherited(void) {
    DIR *d = opendir("/proc/self/fd");
    ASSERT(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd < 4096) inherited[fd] = true;
    }
    closedir(d);
}

/* Fails on any fd the library opened without FD_CLOEXEC; returns how many it opened. */
static int check_all_cloexec(void) {
    DIR *d = opendir("/proc/self/fd");
    ASSERT(d != NULL);
    int self = dirfd(d), open_fds = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd <= 2 || fd == self || (fd < 4096 && inherited[fd])) continue;
        open_fds++;
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 && errno == EBADF) continue; /* closed meanwhile by a library thread */
        char target[256] = "";
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) target[n] = 0;
        ASSERT_MSG(flags >= 0 && (flags & FD_CLOEXEC), "fd %d (%s) is not close-on-exec", fd, target);
    }
    closedir(d);
    return open_fds;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    ASSERT(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

TEST(fds_cloexec) {
    note_inherited();
    char *root = tu_setup_root("fdhyg");
    tu_install_recorder(NULL);
    ASSERT_OK(new_gchandler());
    ASSERT_OK(new_supervisor());
    ASSERT_OK(start_gchandler());
    pid_ppid_info_t info = { 0 };
    tu_dead_pid(&info.pid, &info.start_time);
    char *dir = tu_arm_monitor(root, "fd-armed", &info, "runc");
    /* A GC entry whose cleanup keeps failing keeps the GC busy meanwhile. */
    ASSERT_OK(supervisor_track_resource("fd-gc", SUPERVISOR_RES_PATH, "/proc/self"));
    ASSERT_OK(gc_add_container("fd-gc", "runc", &info));
    ASSERT(check_all_cloexec() > 0);
    ASSERT_OK(supervisor_shutdown());
    free(dir);
}

TEST(fds_released_by_shutdown) {
    char *root = tu_setup_root("fdcount");
    tu_install_recorder(NULL);
    int before = count_fds();
    for (int round = 0; round < 3; round++) {
        ASSERT_OK(new_gchandler());
        ASSERT_OK(new_supervisor());
        ASSERT_OK(start_gchandler());
        pid_ppid_info_t info = { 0 };
        tu_dead_pid(&info.pid, &info.start_time);
        char id[32];
        snprintf(id, sizeof id, "armed-%d", round);
        free(tu_arm_monitor(root, id, &info, "runc"));
        ASSERT_OK(supervisor_shutdown());
        ASSERT_MSG(count_fds() == before, "round %d: %d fds open after shutdown, %d before", round, count_fds(), before);
    }
}

static const tu_case cases[] = {
    TU_CASE(fds_cloexec),
    TU_CASE(fds_released_by_shutdown),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
