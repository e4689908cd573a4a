/*
 * The attach socket (issue 12), against real runc containers, as iSulad's
 * engine uses it: a client makes three FIFOs in the state dir (mode 0600),
 * opens the read ends of stdout/stderr, connects to process.json's
 * attach_socket, writes "<stdin> <stdout> <stderr>" and reads a native int
 * (0 attached, -1 refused); then opens its stdin FIFO for writing.
 *
 *   two_clients       both clients receive what the container prints after
 *                     they attached (and the json-file log has it too).
 *   stdin             a client's stdin reaches the container (it echoes it).
 *   tty               the same through a pty (open_tty, terminal: true).
 *   limit             16 clients attach, the 17th gets -1.
 *   bad_messages      outside the state dir, symlink to a FIFO outside,
 *                     mode 0666, regular file, relative path, two paths,
 *                     10 KB: each -1, the shim and container keep running.
 *   slow_client       a client that never reads: the container keeps running
 *                     and logging, the other client keeps receiving.
 *   close_at_once     a client that attaches and closes at once is detached.
 *   container_exit    the container exits with clients attached: the status
 *                     is delivered as usual, the clients see EOF.
 */
#include <limits.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "shim_fixture.h"

typedef struct client {
    int in;        /* write end of its stdin FIFO (-1 until attached) */
    reader out;    /* read end of its stdout FIFO */
    reader err;
    int sock;
    int answer;
} client;

static char *g_sock;

/* Starts the container with an attach socket; open_stdin, optional tty. */
static pid_t attach_start(const char *tag, const char *args_json, bool tty, int *efd)
{
    bundle_opts o = { .terminal = tty, .args_json = args_json };
    make_container(tag, &o);
    char *efifo = make_fifo(g_wd, "exit_fifo");
    g_sock = wd_path("attach.sock");
    char pj[2048];
    snprintf(pj, sizeof pj,
             "{\"exit_fifo\":\"%s\",\"runtime\":\"runc\",\"attach_socket\":\"%s\",\"open_stdin\":true,"
             "\"open_tty\":%s,\"terminal\":%s}",
             efifo, g_sock, tty ? "true" : "false", tty ? "true" : "false");
    write_text(g_wd, "process.json", pj);
    *efd = open_reader(efifo);
    free(efifo);
    pid_t shim = start_shim(NULL);
    runc_start();
    struct stat st;
    CHECK_MSG(lstat(g_sock, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600,
              "attach socket %s: mode %o", g_sock, st.st_mode & 0777);
    return shim;
}

/* Sends msg (len bytes) on a new connection; the shim's answer, or -2 when
 * none came within WAIT_MS. The connection is kept in *sock. */
static int send_message(const char *msg, size_t len, int *sock)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(s >= 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", g_sock);
    CHECK_MSG(connect(s, (struct sockaddr *)&a, sizeof a) == 0, "connect %s: %s", g_sock, strerror(errno));
    CHECK(write(s, msg, len) == (ssize_t)len);
    int answer = -2;
    struct pollfd pf = { .fd = s, .events = POLLIN };
    if (poll(&pf, 1, WAIT_MS) == 1 && read(s, &answer, sizeof answer) != (ssize_t)sizeof answer) answer = -2;
    *sock = s;
    return answer;
}

/* A client with FIFOs <wd>/attach-<n>-{in,out,err}: attached when the answer is 0. */
static client attach_client(int n)
{
    client c = { .in = -1, .sock = -1 };
    char name[64], *paths[3];
    const char *roles[3] = { "in", "out", "err" };
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "attach-%d-%s", n, roles[k]);
        paths[k] = make_fifo(g_wd, name);
        CHECK(chmod(paths[k], 0600) == 0);
    }
    c.out.fd = open_reader(paths[1]);
    c.err.fd = open_reader(paths[2]);
    char msg[PATH_MAX * 3 + 4];
    snprintf(msg, sizeof msg, "%s %s %s", paths[0], paths[1], paths[2]);
    c.answer = send_message(msg, strlen(msg), &c.sock);
    if (c.answer == 0) {
        c.in = open(paths[0], O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        CHECK_MSG(c.in >= 0, "open %s for writing: %s", paths[0], strerror(errno));
    }
    for (int k = 0; k < 3; k++) free(paths[k]);
    return c;
}

static void client_close(client *c)
{
    if (c->in >= 0) close(c->in);
    close(c->out.fd);
    close(c->err.fd);
    if (c->sock >= 0) close(c->sock);
    c->in = c->sock = -1;
}

static void client_say(client *c, const char *text)
{
    CHECK(write(c->in, text, strlen(text)) == (ssize_t)strlen(text));
}

/* Waits for EOF on r (the shim closed its write end), bounded. */
static bool read_eof(reader *r, int ms)
{
    long long end = tu_now_ms() + ms;
    for (;;) {
        int left = (int)(end - tu_now_ms());
        if (left <= 0) return false;
        struct pollfd pf = { .fd = r->fd, .events = POLLIN };
        if (poll(&pf, 1, left) <= 0) continue;
        char buf[4096];
        ssize_t n = read(r->fd, buf, sizeof buf);
        if (n == 0) return true;
        if (n < 0 && errno != EAGAIN && errno != EINTR) return true;
    }
}

static bool shim_alive(pid_t shim) { int st; return !tu_reap(shim, 0, &st); }

/* Ends the container through its stdin (EOF for `cat`) or a kill. */
static void end_container(pid_t shim, int efd)
{
    sh("runc --root %s/runc kill %s KILL >/dev/null 2>&1", g_wd, g_id);
    int code = -1;
    CHECK_MSG(read_status(efd, &code, WAIT_MS) == 4, "no status after the kill");
    CHECK_MSG(wait_shim(shim, WAIT_MS) == 0, "shim did not exit 0");
    close(efd);
    expect_no_container();
    finish_case();
}

#define ECHO_ARGS "[\"/bin/cat\"]"

TEST(two_clients)
{
    int efd;
    pid_t shim = attach_start("attach2", ECHO_ARGS, false, &efd);
    client a = attach_client(1), b = attach_client(2);
    CHECK_MSG(a.answer == 0 && b.answer == 0, "answers %d %d", a.answer, b.answer);
    client_say(&a, "line-after-attach\n");
    CHECK_MSG(read_until(&a.out, "line-after-attach\n", WAIT_MS), "client a got \"%s\"", a.out.buf);
    CHECK_MSG(read_until(&b.out, "line-after-attach\n", WAIT_MS), "client b got \"%s\"", b.out.buf);
    client_close(&a); client_close(&b);
    end_container(shim, efd);
}

TEST(stdin)
{
    int efd;
    pid_t shim = attach_start("attachin", "[\"/bin/sh\",\"-c\",\"read x; echo got-$x; read y; exit 9\"]", false, &efd);
    client a = attach_client(1);
    CHECK(a.answer == 0);
    client_say(&a, "ping\n");
    CHECK_MSG(read_until(&a.out, "got-ping\n", WAIT_MS), "container did not echo: \"%s\"", a.out.buf);
    client_say(&a, "bye\n");
    int code = -1;
    CHECK_MSG(read_status(efd, &code, WAIT_MS) == 4 && code == 9, "status %d, expected 9", code);
    CHECK_MSG(read_eof(&a.out, WAIT_MS), "client saw no EOF after the exit");
    CHECK(wait_shim(shim, WAIT_MS) == 0);
    client_close(&a);
    close(efd);
    expect_no_container();
    finish_case();
}

TEST(tty)
{
    int efd;
    pid_t shim = attach_start("attachtty", "[\"/bin/sh\",\"-c\",\"[ -t 0 ] && echo is-a-tty; read x; echo got-$x; sleep 100\"]", true, &efd);
    client a = attach_client(1), b = attach_client(2);
    CHECK(a.answer == 0 && b.answer == 0);
    client_say(&a, "ttyping\r");
    CHECK_MSG(read_until(&a.out, "got-ttyping", WAIT_MS), "client a got \"%s\"", a.out.buf);
    CHECK_MSG(read_until(&b.out, "got-ttyping", WAIT_MS), "client b got \"%s\"", b.out.buf);
    client_close(&a); client_close(&b);
    end_container(shim, efd);
}

TEST(limit)
{
    int efd;
    pid_t shim = attach_start("attachmax", ECHO_ARGS, false, &efd);
    client c[17];
    for (int i = 0; i < 16; i++) {
        c[i] = attach_client(i);
        CHECK_MSG(c[i].answer == 0, "client %d: answer %d", i, c[i].answer);
    }
    c[16] = attach_client(16);
    CHECK_MSG(c[16].answer == -1, "17th client: answer %d, expected -1", c[16].answer);
    client_say(&c[0], "to-all-16\n");
    for (int i = 0; i < 16; i++)
        CHECK_MSG(read_until(&c[i].out, "to-all-16\n", WAIT_MS), "client %d got \"%s\"", i, c[i].out.buf);
    for (int i = 0; i < 17; i++) client_close(&c[i]);
    end_container(shim, efd);
}

TEST(bad_messages)
{
    int efd;
    pid_t shim = attach_start("attachbad", ECHO_ARGS, false, &efd);
    char *in = make_fifo(g_wd, "good-in"), *out = make_fifo(g_wd, "good-out"), *err = make_fifo(g_wd, "good-err");
    int hold_out = open_reader(out), hold_err = open_reader(err);
    char *outside_dir = tu_mkdtemp("attachout");
    char *outside = make_fifo(outside_dir, "fifo");
    int hold_outside = open_reader(outside);
    char *link = wd_path("link-out");
    CHECK(symlink(outside, link) == 0);
    char *wide = make_fifo(g_wd, "wide");
    CHECK(chmod(wide, 0666) == 0);
    int hold_wide = open_reader(wide);
    char *regular = wd_path("regular");
    write_text(g_wd, "regular", "x");

    char msg[16384];
    const char *cases[][3] = {
        { in, outside, err },      /* outside the state dir */
        { in, link, err },         /* symlink to a FIFO outside */
        { in, wide, err },         /* mode 0666 */
        { in, regular, err },      /* a regular file */
        { in, "good-out", err },   /* relative */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(msg, sizeof msg, "%s %s %s", cases[i][0], cases[i][1], cases[i][2]);
        int s, answer = send_message(msg, strlen(msg), &s);
        close(s);
        CHECK_MSG(answer == -1, "message \"%s\": answer %d, expected -1", msg, answer);
    }
    snprintf(msg, sizeof msg, "%s %s", in, out);   /* two paths */
    int s, answer = send_message(msg, strlen(msg), &s);
    close(s);
    CHECK_MSG(answer == -1, "two paths: answer %d", answer);
    memset(msg, 'a', 10240);                       /* 10 KB */
    msg[0] = '/';
    answer = send_message(msg, 10240, &s);
    close(s);
    CHECK_MSG(answer == -1, "10 KB message: answer %d", answer);

    CHECK_MSG(shim_alive(shim) && runc_count() == 1, "shim or container gone after bad messages");
    snprintf(msg, sizeof msg, "%s %s %s", in, out, err);
    answer = send_message(msg, strlen(msg), &s);
    CHECK_MSG(answer == 0, "a good message after the bad ones: answer %d", answer);
    close(s);
    close(hold_out); close(hold_err); close(hold_outside); close(hold_wide);
    free(in); free(out); free(err); free(outside); free(outside_dir); free(link); free(wide); free(regular);
    end_container(shim, efd);
}

/* 3000 lines (~150 KB, twice a FIFO's capacity) once the client says go. */
#define FLOOD_ARGS "[\"/bin/sh\",\"-c\",\"read x; i=0; while [ $i -lt 3000 ]; do " \
    "echo flood-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; echo flood-done; exec cat\"]"

TEST(slow_client)
{
    bundle_opts o = { .args_json = FLOOD_ARGS };
    make_container("attachslow", &o);
    char *efifo = make_fifo(g_wd, "exit_fifo");
    g_sock = wd_path("attach.sock");
    char *logp = wd_path("console.log");
    char pj[2048];
    snprintf(pj, sizeof pj, "{\"exit_fifo\":\"%s\",\"runtime\":\"runc\",\"attach_socket\":\"%s\","
             "\"open_stdin\":true,\"logPath\":\"%s\"}", efifo, g_sock, logp);
    write_text(g_wd, "process.json", pj);
    int efd = open_reader(efifo);
    pid_t shim = start_shim(NULL);
    runc_start();
    client slow = attach_client(1), fast = attach_client(2);
    CHECK(slow.answer == 0 && fast.answer == 0);
    client_say(&fast, "go\n");
    /* The fast client reads as it comes: it sees the end marker. */
    long long end = tu_now_ms() + WAIT_MS;
    bool done = false;
    while (!done && tu_now_ms() < end) {
        struct pollfd pf = { .fd = fast.out.fd, .events = POLLIN };
        if (poll(&pf, 1, 1000) <= 0) continue;
        char buf[8192];
        ssize_t n = read(fast.out.fd, buf, sizeof buf - 1);
        if (n <= 0) break;
        buf[n] = 0;
        /* Keep the tail only: the marker may straddle two reads. */
        size_t keep = fast.out.len > 64 ? 64 : fast.out.len;
        memmove(fast.out.buf, fast.out.buf + fast.out.len - keep, keep);
        fast.out.len = keep;
        size_t add = (size_t)n < sizeof fast.out.buf - keep - 1 ? (size_t)n : sizeof fast.out.buf - keep - 1;
        memcpy(fast.out.buf + keep, buf, add);
        fast.out.len += add;
        fast.out.buf[fast.out.len] = 0;
        done = strstr(fast.out.buf, "flood-done\n") != NULL;
    }
    CHECK_MSG(done, "the reading client did not get the whole flood");
    CHECK_MSG(shim_alive(shim) && runc_count() == 1, "shim or container gone");
    /* The json-file log got everything too. */
    char needle[] = "flood-done";
    bool logged = false;
    for (long long e2 = tu_now_ms() + WAIT_MS; !logged && tu_now_ms() < e2;) {
        logged = log_has(logp, "stdout", needle);
        if (!logged) { struct timespec ts = { 0, 20000000 }; nanosleep(&ts, NULL); }
    }
    CHECK_MSG(logged, "flood-done not in the json-file log");
    /* The slow client was dropped for stdout; the other still receives. */
    char *errp = wd_path("shim.err");
    char *text = tu_read_file(errp, NULL);
    CHECK_MSG(text && strstr(text, "is not reading"), "no drop logged for the slow client");
    free(text); free(errp);
    client_say(&fast, "still-here\n");
    CHECK_MSG(read_until(&fast.out, "still-here\n", WAIT_MS), "fast client stopped receiving");
    client_close(&slow); client_close(&fast);
    free(efifo); free(logp);
    end_container(shim, efd);
}

TEST(close_at_once)
{
    int efd;
    pid_t shim = attach_start("attachclose", ECHO_ARGS, false, &efd);
    client a = attach_client(1);
    CHECK(a.answer == 0);
    client_close(&a);
    client b = attach_client(2);
    CHECK_MSG(b.answer == 0, "attach after a client left: answer %d", b.answer);
    client_say(&b, "after-close\n");
    CHECK_MSG(read_until(&b.out, "after-close\n", WAIT_MS), "client b got \"%s\"", b.out.buf);
    char *errp = wd_path("shim.err");
    char *text = tu_read_file(errp, NULL);
    CHECK_MSG(text && strstr(text, "detached"), "the closed client was not detached: %s", text ? text : "");
    free(text); free(errp);
    CHECK(shim_alive(shim));
    client_close(&b);
    end_container(shim, efd);
}

TEST(container_exit)
{
    int efd;
    pid_t shim = attach_start("attachexit", "[\"/bin/sh\",\"-c\",\"read x; echo bye; exit 3\"]", false, &efd);
    client a = attach_client(1), b = attach_client(2);
    CHECK(a.answer == 0 && b.answer == 0);
    client_say(&b, "x\n");
    int code = -1;
    CHECK_MSG(read_status(efd, &code, WAIT_MS) == 4 && code == 3, "status %d, expected 3", code);
    CHECK_MSG(read_until(&a.out, "bye\n", WAIT_MS), "client a got \"%s\"", a.out.buf);
    CHECK_MSG(read_eof(&a.out, WAIT_MS) && read_eof(&b.out, WAIT_MS), "clients saw no EOF on stdout");
    CHECK_MSG(read_eof(&a.err, WAIT_MS), "client saw no EOF on stderr");
    CHECK(wait_shim(shim, WAIT_MS) == 0);
    int rec = -1;
    CHECK_MSG(supervisor_exit_record(g_wd, &rec) == 0 && rec == 3, "exit record %d", rec);
    struct stat st;
    CHECK_MSG(lstat(g_sock, &st) != 0, "attach socket left behind");
    client_close(&a); client_close(&b);
    close(efd);
    expect_no_container();
    finish_case();
}

static const tu_case cases[] = {
    TU_CASE(two_clients), TU_CASE(stdin), TU_CASE(tty), TU_CASE(limit), TU_CASE(bad_messages),
    TU_CASE(slow_client), TU_CASE(close_at_once), TU_CASE(container_exit),
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    return TU_MAIN(argc, argv, cases);
}
