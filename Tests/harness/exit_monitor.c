/* Exit monitoring: statuses, short writes, no writer yet, alive process,
 * PID reuse, tracked resources, concurrency. */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(exit_statuses)
{
    char *root = h_setup("exit-statuses", NULL);
    static const int codes[] = { 0, 7, 255 };
    pid_t shims[3];
    int pids[3];
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof(id), "status-%d", codes[i]);
        pid_ppid_info_t info = tu_dead_info();
        pids[i] = info.pid;
        char *fifo = tu_arm_monitor(root, id, &info, "runc");
        ASSERT_EQ(supervisor_container_state(id), SUPERVISOR_STATE_RUNNING);
        shims[i] = tu_spawn_fake_shim(fifo, codes[i], sizeof(int));
        free(fifo);
    }
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof(id), "status-%d", codes[i]);
        h_expect_stopped(id, pids[i], codes[i]);
        h_reap_shim(shims[i]);
    }
    tu_sleep_ms(H_QUIET_MS);
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof(id), "status-%d", codes[i]);
        ASSERT_EQ(tu_events_count(tu_stopped, id), 1);
        ASSERT_EQ(supervisor_container_state(id), SUPERVISOR_STATE_NONE);
    }
    ASSERT_EQ(tu_garbage_count(root), 0);
    ASSERT_OK(supervisor_shutdown());
}

/* The writer opens and closes without data (shim killed): 137. */
TEST(exit_eof_no_data)
{
    char *root = h_setup("exit-eof", NULL);
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, "eof", &info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 0, 0);
    h_expect_stopped("eof", info.pid, 137);
    h_reap_shim(shim);
    tu_sleep_ms(H_QUIET_MS);
    ASSERT_EQ(tu_events_count(tu_stopped, "eof"), 1);
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* Two bytes of a status, then EOF: 137, not the partial value. */
TEST(exit_two_bytes)
{
    char *root = h_setup("exit-2bytes", NULL);
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, "short", &info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 5, 2);
    h_expect_stopped("short", info.pid, 137);
    h_reap_shim(shim);
    tu_sleep_ms(H_QUIET_MS);
    ASSERT_EQ(tu_events_count(tu_stopped, "short"), 1);
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* A FIFO whose writer has not opened yet is not an exit. */
TEST(exit_no_writer_yet)
{
    char *root = h_setup("exit-nowriter", NULL);
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, "waiting", &info, "runc");
    ASSERT_MSG(!tu_events_wait(tu_stopped, "waiting", 1, H_QUIET_MS),
               "container_stopped fired although no writer ever opened the FIFO");
    ASSERT_EQ(supervisor_container_state("waiting"), SUPERVISOR_STATE_RUNNING);
    pid_t shim = tu_spawn_fake_shim(fifo, 42, sizeof(int));
    h_expect_stopped("waiting", info.pid, 42);
    h_reap_shim(shim);
    tu_sleep_ms(H_QUIET_MS);
    ASSERT_EQ(tu_events_count(tu_stopped, "waiting"), 1);
    ASSERT_EQ(tu_events_total(tu_stopped), 1);
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* Arming an armed id: EEXIST and the caller keeps its fd; re-arming after
 * the stop works. */
TEST(exit_duplicate_id)
{
    char *root = h_setup("exit-dup", NULL);
    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, "dup", &info, "runc");
    int fd2 = container_exit_fifo_open(fifo);
    ASSERT(fd2 >= 0);
    ASSERT_FAILS(container_supervisor_add_exit_monitor(fd2, &info, "dup", "runc"), EEXIST);
    ASSERT_MSG(fcntl(fd2, F_GETFD) >= 0, "library closed the fd of a failed add");
    ASSERT_OK(close(fd2));

    pid_t shim = tu_spawn_fake_shim(fifo, 1, sizeof(int));
    h_expect_stopped("dup", info.pid, 1);
    h_reap_shim(shim);

    /* The id can be armed again right away. */
    free(fifo);
    fifo = tu_arm_monitor(root, "dup", &info, "runc");
    shim = tu_spawn_fake_shim(fifo, 2, sizeof(int));
    ASSERT_MSG(tu_events_wait(tu_stopped, "dup", 2, H_WAIT_MS), "second exit of dup not delivered");
    int code = -1;
    ASSERT(tu_events_last(tu_stopped, "dup", NULL, &code));
    ASSERT_EQ(code, 2);
    h_reap_shim(shim);
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* The container process is still alive when the status arrives: the library
 * SIGKILLs it (a zombie counts as gone), then container_stopped. */
TEST(exit_alive_killed)
{
    char *root = h_setup("exit-alive", NULL);
    pid_t child = tu_spawn_paused();
    pid_ppid_info_t info = tu_dead_info();
    info.pid = (int)child;
    ASSERT(tu_proc_start_time(child, &info.start_time));
    char *fifo = tu_arm_monitor(root, "alive", &info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    h_expect_stopped("alive", (int)child, 0);
    int st = 0;
    ASSERT_MSG(tu_reap(child, H_WAIT_MS, &st), "container process %d was not killed", (int)child);
    ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child wait status 0x%x, want SIGKILL", st);
    ASSERT_MSG(supervisor_container_state("alive") == SUPERVISOR_STATE_NONE,
               "state %d after the kill (a zombie must count as gone, cleanup succeeds)",
               (int)supervisor_container_state("alive"));
    ASSERT_EQ(tu_garbage_count(root), 0);
    h_reap_shim(shim);
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* pid_info names a live unrelated process with a wrong start time (the PID
 * was reused): it is never signalled, and the exit is still delivered. */
TEST(exit_pid_reuse_safe)
{
    char *root = h_setup("exit-reuse", NULL);
    pid_t bystander = tu_spawn_paused();
    unsigned long long real_start = 0;
    ASSERT(tu_proc_start_time(bystander, &real_start));
    pid_ppid_info_t info = tu_dead_info();
    info.pid = (int)bystander;
    info.start_time = real_start + 4242;
    char *fifo = tu_arm_monitor(root, "reused", &info, "runc");
    pid_t shim = tu_spawn_fake_shim(fifo, 3, sizeof(int));
    h_expect_stopped("reused", (int)bystander, 3);
    ASSERT_OK(kill(bystander, 0));
    ASSERT_MSG(tu_proc_running(bystander), "bystander %d state '%c': it was signalled",
               (int)bystander, tu_proc_state(bystander));
    int st = 0;
    ASSERT_MSG(!tu_reap(bystander, 1, &st), "bystander ended (wait status 0x%x)", st);
    ASSERT_EQ(supervisor_container_state("reused"), SUPERVISOR_STATE_NONE);
    h_reap_shim(shim);
    tu_kill_reap(bystander);
    free(fifo);
    ASSERT_OK(supervisor_shutdown());
}

/* A tracked PATH is released before container_stopped; symlinks inside are
 * removed, never followed. */
TEST(exit_track_path)
{
    char *root = h_setup("exit-track", NULL);
    char *outside = tu_mkdtemp("exit-track-outside");
    char *keep = tu_path_join(outside, "keep");
    tu_write_file(keep, "keep", 4);

    char *res = tu_path_join(root, "rootfs-scratch");
    tu_mkdir(res);
    char *sub = tu_path_join(res, "sub");
    tu_mkdir(sub);
    char *file = tu_path_join(sub, "file");
    tu_write_file(file, "data", 4);
    char *link = tu_path_join(res, "link-out");
    ASSERT_OK(symlink(outside, link));

    pid_ppid_info_t info = tu_dead_info();
    char *fifo = tu_arm_monitor(root, "tracked", &info, "runc");
    ASSERT_OK(supervisor_track_resource("tracked", SUPERVISOR_RES_PATH, res));
    pid_t shim = tu_spawn_fake_shim(fifo, 0, sizeof(int));
    h_expect_stopped("tracked", info.pid, 0);
    struct stat st;
    ASSERT_MSG(lstat(res, &st) == -1 && errno == ENOENT, "tracked path %s still exists", res);
    ASSERT_MSG(lstat(keep, &st) == 0, "file behind a symlink was removed");
    ASSERT_EQ(supervisor_container_state("tracked"), SUPERVISOR_STATE_NONE);
    h_reap_shim(shim);
    free(fifo);
    free(link);
    free(file);
    free(sub);
    free(res);
    free(keep);
    ASSERT_OK(supervisor_shutdown());
}

/* 4 threads x 100 monitors: every exit delivered exactly once. */
#define CONC_THREADS 4
#define CONC_PER_THREAD 100

struct conc_arg {
    const char *root;
    int thread;
    pid_ppid_info_t info;
    pid_t shims[CONC_PER_THREAD];
};

static void *conc_thread(void *p)
{
    struct conc_arg *a = p;
    for (int i = 0; i < CONC_PER_THREAD; i++) {
        char id[32];
        snprintf(id, sizeof(id), "conc-%d-%d", a->thread, i);
        char *fifo = tu_arm_monitor(a->root, id, &a->info, "runc");
        a->shims[i] = tu_spawn_fake_shim(fifo, (a->thread * CONC_PER_THREAD + i) % 256, sizeof(int));
        free(fifo);
    }
    return NULL;
}

struct conc_check { int bad; };

static void conc_verify(const char *key, int count, int pid, int code, void *arg)
{
    (void)pid;
    struct conc_check *c = arg;
    int t = -1, i = -1;
    if (sscanf(key, "conc-%d-%d", &t, &i) != 2) {
        fprintf(stderr, "unexpected id %s\n", key);
        c->bad++;
        return;
    }
    if (count != 1 || code != (t * CONC_PER_THREAD + i) % 256) {
        fprintf(stderr, "%s: %d deliveries, code %d\n", key, count, code);
        c->bad++;
    }
}

TEST(exit_concurrent)
{
    char *root = h_setup("exit-conc", NULL);
    pid_ppid_info_t info = tu_dead_info();
    struct conc_arg args[CONC_THREADS];
    pthread_t th[CONC_THREADS];
    long long t0 = tu_now_ms();
    for (int t = 0; t < CONC_THREADS; t++) {
        args[t].root = root;
        args[t].thread = t;
        args[t].info = info;
        ASSERT_OK(pthread_create(&th[t], NULL, conc_thread, &args[t]));
    }
    for (int t = 0; t < CONC_THREADS; t++) ASSERT_OK(pthread_join(th[t], NULL));
    const int n = CONC_THREADS * CONC_PER_THREAD;
    bool all = tu_events_wait_total(tu_stopped, n, 45000);
    ASSERT_MSG(all, "only %d of %d exits delivered (%d ids)", tu_events_total(tu_stopped), n,
               tu_events_keys(tu_stopped));
    tu_log("%d exits delivered in %lld ms", n, tu_now_ms() - t0);
    tu_sleep_ms(H_QUIET_MS);
    ASSERT_EQ(tu_events_total(tu_stopped), n);
    ASSERT_EQ(tu_events_keys(tu_stopped), n);
    struct conc_check c = { 0 };
    tu_events_foreach(tu_stopped, conc_verify, &c);
    ASSERT_EQ(c.bad, 0);
    for (int t = 0; t < CONC_THREADS; t++)
        for (int i = 0; i < CONC_PER_THREAD; i++) h_reap_shim(args[t].shims[i]);
    ASSERT_OK(supervisor_shutdown());
}

static const tu_case cases[] = {
    TU_CASE(exit_statuses),
    TU_CASE(exit_eof_no_data),
    TU_CASE(exit_two_bytes),
    TU_CASE(exit_no_writer_yet),
    TU_CASE(exit_duplicate_id),
    TU_CASE(exit_alive_killed),
    TU_CASE(exit_pid_reuse_safe),
    TU_CASE(exit_track_path),
    TU_CASE(exit_concurrent),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
