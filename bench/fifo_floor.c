/*
 * The floor under benchmark (a): 2,000 exit FIFOs, one writer writing every
 * 4-byte status back to back, one epoll thread that only reads and closes
 * (no library, no cleanup, no hooks). What this machine's FIFO and wake-up
 * path costs before any supervisor work; printed next to (a) by run.sh.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define N 2000

static int ep;
static long long t_last;

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *reader(void *arg)
{
    (void)arg;
    struct epoll_event ev[256];
    int got = 0;
    while (got < N) {
        int n = epoll_wait(ep, ev, 256, -1);
        for (int i = 0; i < n; i++) {
            int status;
            if (read(ev[i].data.fd, &status, sizeof status) == (ssize_t)sizeof status) got++;
            close(ev[i].data.fd);
        }
    }
    t_last = now_ns();
    return NULL;
}

int main(void)
{
    struct rlimit r = { 3 * N + 64, 3 * N + 64 };
    setrlimit(RLIMIT_NOFILE, &r);
    ep = epoll_create1(EPOLL_CLOEXEC);
    char dir[] = "/dev/shm/supfloorXXXXXX";
    if (!mkdtemp(dir)) return 1;
    static int wfd[N];
    for (int i = 0; i < N; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/f%d", dir, i);
        if (mkfifo(p, 0600) != 0) return 1;
        int rfd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        struct epoll_event e = { .events = EPOLLIN | EPOLLONESHOT, .data.fd = rfd };
        epoll_ctl(ep, EPOLL_CTL_ADD, rfd, &e);
        wfd[i] = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        unlink(p);
    }
    rmdir(dir);
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    usleep(50000);
    long long t0 = now_ns();
    for (int i = 0; i < N; i++) {
        int status = i % 256;
        if (write(wfd[i], &status, sizeof status) != (ssize_t)sizeof status) return 1;
    }
    long long t_written = now_ns();
    pthread_join(t, NULL);
    printf("floor: 2,000 FIFO statuses written in %.1f ms, all read by a bare epoll thread in %.1f ms\n",
           (t_written - t0) / 1e6, (t_last - t0) / 1e6);
    return 0;
}
