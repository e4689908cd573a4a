/*
 * isulad-shim I/O, failure and record cases against real runc + a busybox
 * rootfs built per case (see issue 4, SPEC section 6):
 *
 *   tty_output      open_tty: runc gets --console-socket, the shim receives the
 *                   pty master and copies the container's output to the
 *                   isuladStdout FIFO and the json-file log.
 *   tty_resize      resizeFifo: "<width> <height>" as iSulad writes it reaches
 *                   the pty (the container's SIGWINCH trap prints `stty size`).
 *   stdin_ping      isuladStdin FIFO → container stdin (pipe mode).
 *   stdin_eof       closing the isuladStdin writer gives the container EOF.
 *   runtime_fail_rootfs / runtime_fail_args
 *                   `runc create` fails: runc's log.json error on the shim's
 *                   stderr, exit 1, no status in the exit FIFO, no container.
 *   engine_down     exit FIFO reader gone when the container exits: exit 0 and
 *                   supervisor_exit_record returns the real code.
 *   exit_record_errors
 *                   supervisor_exit_record: missing → ENOENT, damaged or out of
 *                   range → EINVAL, symlink → refused (EINVAL).
 *   oom_restore     the shim runs at -1000, the runtime and the container get
 *                   the shim's original oom_score_adj (100) back.
 *   exec_status     `"exec": true`, no timeout: output via the exec's FIFO, the
 *                   status as 4 bytes on the shim's stdout, no exit.json.
 *   exec_tty        the same with "terminal": true (console socket for exec).
 *   tty_stdin, stdin_eof, runtime_fail_tty: variations of the above.
 *   exit_contract   the shim writes, the library reads: container_stopped
 *                   137, exit.json signal/pid/start time (clock ticks) and
 *                   supervisor_exit_record agree with what the engine saw.
 *   nested_process_json
 *                   2 MB nested a million deep: exit 1 + message, nothing made.
 *   signals_ignored SIGTERM/SIGHUP/SIGINT logged, not fatal; real status later.
 *   stdin_slow_reader
 *                   256 KiB of stdin to a container that reads late: nothing
 *                   dropped when its stdin pipe is full (back-pressure).
 *
 * Every wait is bounded; every case deletes its container (runc delete
 * --force) on success and on failure.
 */
#include "shim_fixture.h"

/* ------------------------------------------------------------------------ */
/* 1. open_tty                                                               */
/* ------------------------------------------------------------------------ */

/* A tty container: output through the pty master the shim got from runc. */
TEST(tty_output)
{
    bundle_opts o = { .terminal = true,
        .args_json = "[\"/bin/sh\",\"-c\",\"echo hello-tty; [ -t 0 ] && [ -t 1 ] && echo is-a-tty; exit 0\"]" };
    make_container("tty", &o);
    char *efifo = make_fifo(g_wd, "exit_fifo");
    char *ofifo = make_fifo(g_wd, "stdout_fifo");
    char *logp = wd_path("console.log");
    char pj[2048];
    snprintf(pj, sizeof pj,
             "{\"exit_fifo\":\"%s\",\"open_tty\":true,\"isuladStdout\":\"%s\",\"logPath\":\"%s\","
             "\"logMaxfile\":2,\"logMaxsize\":1048576,\"runtime\":\"runc\"}", efifo, ofifo, logp);
    write_text(g_wd, "process.json", pj);
    int efd = open_reader(efifo);
    reader out = { .fd = open_reader(ofifo) };
    pid_t shim = start_shim(NULL);

    wait_created();
    char *sock = wd_path("console-socket");
    struct stat st;
    /* terminal:true makes runc refuse a detached create without
     * --console-socket, so a created container proves the shim passed it. */
    CHECK(sh("grep -q '\"terminal\":true' %s/config.json", g_bundle) == 0);
    CHECK(sh("runc --root %s/runc start %s", g_wd, g_id) == 0);

    CHECK_MSG(read_until(&out, "hello-tty", WAIT_MS), "stdout FIFO got: \"%s\"", out.buf);
    CHECK_MSG(read_until(&out, "is-a-tty", WAIT_MS), "container stdio is not a tty; FIFO got: \"%s\"", out.buf);
    /* A pty turns \n into \r\n: proof the bytes went through a terminal. */
    CHECK_MSG(strstr(out.buf, "hello-tty\r\n") != NULL, "no CRLF from the pty: \"%s\"", out.buf);
    int status = -1;
    CHECK_MSG(read_status(efd, &status, WAIT_MS) == 4, "no status in the exit FIFO");
    CHECK_MSG(status == 0, "status %d", status);
    CHECK_MSG(wait_shim(shim, WAIT_MS) == 0, "shim did not exit 0");
    CHECK_MSG(log_has(logp, "stdout", "hello-tty"), "hello-tty not in %s", logp);
    CHECK_MSG(log_has(logp, "stdout", "is-a-tty"), "is-a-tty not in %s", logp);
    /* The console socket is gone once the master was received. */
    CHECK_MSG(lstat(sock, &st) != 0, "console socket left behind");
    expect_no_container();
    close(efd);
    close(out.fd);
    free(sock); free(efifo); free(ofifo); free(logp);
    finish_case();
}

/* resizeFifo: "<width> <height>" (iSulad's format) → TIOCSWINSZ on the pty.
 * The container's SIGWINCH trap prints `stty size` ("<rows> <cols>"). */
TEST(tty_resize)
{
    bundle_opts o = { .terminal = true,
        .args_json = "[\"/bin/sh\",\"-c\","
                     "\"trap 'echo size=$(stty size); exit 0' WINCH; echo before=$(stty size) ready; "
                     "i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo no-winch; exit 9\"]" };
    make_container("resize", &o);
    char *efifo = make_fifo(g_wd, "exit_fifo");
    char *ofifo = make_fifo(g_wd, "stdout_fifo");
    char *rfifo = make_fifo(g_wd, "resize_fifo");
    char *logp = wd_path("console.log");
    char pj[2048];
    snprintf(pj, sizeof pj,
             "{\"exit_fifo\":\"%s\",\"open_tty\":true,\"isuladStdout\":\"%s\",\"resizeFifo\":\"%s\","
             "\"logPath\":\"%s\",\"runtime\":\"runc\"}", efifo, ofifo, rfifo, logp);
    write_text(g_wd, "process.json", pj);
    int efd = open_reader(efifo);
    reader out = { .fd = open_reader(ofifo) };
    pid_t shim = start_shim(NULL);
    runc_start();

    /* The trap is set before "before=" is printed. */
    CHECK_MSG(read_until(&out, " ready", WAIT_MS), "stdout FIFO got: \"%s\"", out.buf);
    tu_log("initial window: %s", strstr(out.buf, "before="));
    /* The shim holds the resize FIFO open, so a writer opens without blocking. */
    int rfd = open(rfifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK_MSG(rfd >= 0, "open resize fifo: %s", strerror(errno));
    const char *size = "100 40";   /* width 100, height 40 */
    CHECK(write(rfd, size, strlen(size)) == (ssize_t)strlen(size));
    close(rfd);
    CHECK_MSG(read_until(&out, "size=40 100", WAIT_MS), "container did not see 40 rows x 100 cols; got: \"%s\"",
              out.buf);
    int status = -1;
    CHECK_MSG(read_status(efd, &status, WAIT_MS) == 4, "no status in the exit FIFO");
    CHECK_MSG(status == 0, "status %d (9: no SIGWINCH reached the container)", status);
    CHECK_MSG(wait_shim(shim, WAIT_MS) == 0, "shim did not exit 0");
    CHECK_MSG(log_has(logp, "stdout", "size=40 100"), "size line not in %s", logp);
    expect_no_container();
    close(efd);
    close(out.fd);
    free(efifo); free(ofifo); free(rfifo); free(logp);
    finish_case();
}

/* ------------------------------------------------------------------------ */
/* 2. stdin                                                                  */
/* ------------------------------------------------------------------------ */

/* A container whose stdin and stdout are isulad FIFOs, started and running. */
typedef struct stdin_run {
    char *efifo, *ififo, *ofifo, *logp;
    int efd, ifd;
    reader out;
    pid_t shim;
} stdin_run;

static void stdin_start(stdin_run *r, const char *tag, const bundle_opts *o, bool tty)
{
    make_container(tag, o);
    r->efifo = make_fifo(g_wd, "exit_fifo");
    r->ififo = make_fifo(g_wd, "stdin_fifo");
    r->ofifo = make_fifo(g_wd, "stdout_fifo");
    r->logp = wd_path("console.log");
    char pj[2048];
    snprintf(pj, sizeof pj,
             "{\"exit_fifo\":\"%s\",%s\"open_stdin\":true,\"isuladStdin\":\"%s\",\"isuladStdout\":\"%s\","
             "\"logPath\":\"%s\",\"runtime\":\"runc\"}",
             r->efifo, tty ? "\"open_tty\":true," : "", r->ififo, r->ofifo, r->logp);
    write_text(g_wd, "process.json", pj);
    r->efd = open_reader(r->efifo);
    r->out = (reader){ .fd = open_reader(r->ofifo) };
    r->shim = start_shim(NULL);
    /* The shim opens its FIFOs before `runc create`: the reader is there. */
    wait_created();
    r->ifd = open(r->ififo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK_MSG(r->ifd >= 0, "open stdin fifo for writing: %s (shim not reading it?)", strerror(errno));
    CHECK(sh("runc --root %s/runc start %s", g_wd, g_id) == 0);
}

/* Status from the exit FIFO, the shim's exit, nothing left in runc. */
static void stdin_finish(stdin_run *r, int expect_status)
{
    int status = -1;
    CHECK_MSG(read_status(r->efd, &status, WAIT_MS) == 4, "no status in the exit FIFO");
    CHECK_MSG(status == expect_status, "status %d, expected %d", status, expect_status);
    CHECK_MSG(wait_shim(r->shim, WAIT_MS) == 0, "shim did not exit 0");
    expect_no_container();
    if (r->ifd >= 0) close(r->ifd);
    close(r->efd);
    close(r->out.fd);
    free(r->efifo); free(r->ififo); free(r->ofifo); free(r->logp);
    finish_case();
}

static void stdin_case(const char *tag, const char *args_json, bool close_writer,
                       const char *expect, const char *log_line, int expect_status)
{
    bundle_opts o = { .terminal = false, .args_json = args_json };
    stdin_run r;
    stdin_start(&r, tag, &o, false);
    CHECK(write(r.ifd, "ping\n", 5) == 5);
    if (close_writer) {
        close(r.ifd);
        r.ifd = -1;
    }
    CHECK_MSG(read_until(&r.out, expect, WAIT_MS), "stdout FIFO got: \"%s\"", r.out.buf);
    CHECK_MSG(log_has(r.logp, "stdout", log_line), "%s not in %s", log_line, r.logp);
    stdin_finish(&r, expect_status);
}

TEST(stdin_ping)
{
    stdin_case("stdin", "[\"/bin/sh\",\"-c\",\"read x; echo got-$x\"]", false, "got-ping", "got-ping", 0);
}

/* cat ends only on EOF: the writer closing must reach the container. */
TEST(stdin_eof)
{
    stdin_case("stdineof", "[\"/bin/sh\",\"-c\",\"cat; echo eof-seen; exit 4\"]", true, "ping\neof-seen", "eof-seen", 4);
}

/* A container that reads its stdin late: its pipe fills (64 KiB) while the
 * shim still holds isulad's data; the shim must hold back (stop reading the
 * FIFO), not drop input or close the container's stdin. Every byte written
 * must reach `wc -c`. */
TEST(stdin_slow_reader)
{
    bundle_opts o = { .args_json = "[\"/bin/sh\",\"-c\",\"sleep 1; echo count=$(wc -c)/\"]" };
    stdin_run r;
    stdin_start(&r, "stdinslow", &o, false);
    /* 256 KiB: four times a pipe. Blocks (bounded) while nobody reads. */
    static char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    size_t total = 256 * 1024, sent = 0;
    long long end = tu_now_ms() + WAIT_MS;
    while (sent < total) {
        int left = (int)(end - tu_now_ms());
        CHECK_MSG(left > 0, "stdin FIFO: only %zu of %zu bytes taken", sent, total);
        struct pollfd pf = { .fd = r.ifd, .events = POLLOUT };
        if (poll(&pf, 1, left) <= 0) continue;
        size_t want = total - sent < sizeof chunk ? total - sent : sizeof chunk;
        ssize_t n = write(r.ifd, chunk, want);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        CHECK_MSG(n > 0, "write stdin fifo: %s", strerror(errno));
        sent += (size_t)n;
    }
    close(r.ifd);
    r.ifd = -1;
    CHECK_MSG(read_until(&r.out, "/", WAIT_MS), "stdout FIFO got: \"%s\"", r.out.buf);
    CHECK_MSG(strstr(r.out.buf, "count=262144/") != NULL,
              "container read %s of 262144 stdin bytes (input dropped when its pipe was full)", r.out.buf);
    stdin_finish(&r, 0);
}

/* open_tty + open_stdin: isulad's stdin goes into the pty master. */
TEST(tty_stdin)
{
    bundle_opts o = { .terminal = true, .args_json = "[\"/bin/sh\",\"-c\",\"read x; echo got-$x\"]" };
    stdin_run r;
    stdin_start(&r, "ttyin", &o, true);
    CHECK(write(r.ifd, "ping\n", 5) == 5);
    CHECK_MSG(read_until(&r.out, "got-ping", WAIT_MS), "stdout FIFO got: \"%s\"", r.out.buf);
    stdin_finish(&r, 0);
}

/* ------------------------------------------------------------------------ */
/* 3. runtime failure                                                        */
/* ------------------------------------------------------------------------ */

/* Last "level":"error" msg of runc's log.json (malloc()ed), or NULL. */
static char *runc_last_error(void)
{
    char *p = wd_path("log.json");
    char *text = tu_read_file(p, NULL);
    free(p);
    if (text == NULL) return NULL;
    char *msg = NULL;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        yajl_val doc = tu_json_parse(line);
        if (doc == NULL) continue;
        const char *level = tu_json_str(doc, "level");
        const char *m = tu_json_str(doc, "msg");
        if (level != NULL && m != NULL && strcmp(level, "error") == 0) {
            free(msg);
            msg = strdup(m);
        }
        yajl_tree_free(doc);
    }
    free(text);
    return msg;
}

static void runtime_fail_case(const char *tag, const bundle_opts *o)
{
    make_container(tag, o);
    char *efifo = make_fifo(g_wd, "exit_fifo");
    char pj[1024];
    snprintf(pj, sizeof pj, "{\"exit_fifo\":\"%s\",\"open_tty\":%s,\"runtime\":\"runc\"}", efifo,
             o->terminal ? "true" : "false");
    write_text(g_wd, "process.json", pj);
    int efd = open_reader(efifo);
    pid_t shim = start_shim(NULL);
    int rc = wait_shim(shim, WAIT_MS);
    CHECK_MSG(rc == 1, "shim exit %d, expected 1", rc);

    char *err_path = wd_path("shim.err");
    char *err = tu_read_file(err_path, NULL);
    CHECK_MSG(err != NULL && err[0] != '\0', "nothing on the shim's stderr");
    char *runc_err = runc_last_error();
    CHECK_MSG(runc_err != NULL, "runc logged no error in log.json");
    tu_log("runc: %s", runc_err);
    tu_log("shim stderr: %s", err);
    if (o->terminal)
        CHECK_MSG(strstr(runc_err, "console socket") == NULL, "runc got no --console-socket: %s", runc_err);
    CHECK_MSG(strstr(err, runc_err) != NULL, "runc's error \"%s\" not on the shim's stderr \"%s\"", runc_err, err);
    /* No status for a container that never ran: EOF with no bytes. */
    int status = -1;
    int got = read_status(efd, &status, 5000);
    CHECK_MSG(got == 0, "exit FIFO: %d bytes (status %d), expected EOF", got, status);
    char *rec = wd_path("exit.json");
    struct stat st;
    CHECK_MSG(lstat(rec, &st) != 0 && errno == ENOENT, "exit.json written for a failed create");
    expect_no_container();
    close(efd);
    free(rec); free(runc_err); free(err); free(err_path); free(efifo);
    finish_case();
}

TEST(runtime_fail_rootfs)
{
    bundle_opts o = { .args_json = "[\"/bin/sh\",\"-c\",\"exit 0\"]", .root_path = "/nonexistent/shimio-rootfs" };
    runtime_fail_case("failroot", &o);
}

/* A tty container whose args[0] is missing: runc hands over the pty master
 * first, then fails; the shim must still report the failure. */
TEST(runtime_fail_tty)
{
    bundle_opts o = { .terminal = true, .args_json = "[\"/bin/no-such-binary\"]" };
    runtime_fail_case("failtty", &o);
}

/* runc 1.1 looks args[0] up before create returns. */
TEST(runtime_fail_args)
{
    bundle_opts o = { .args_json = "[\"/bin/no-such-binary\"]" };
    runtime_fail_case("failargs", &o);
}

/* ------------------------------------------------------------------------ */
/* 4. engine down + supervisor_exit_record                                   */
/* ------------------------------------------------------------------------ */

TEST(engine_down)
{
    bundle_opts o = { .args_json = "[\"/bin/sh\",\"-c\",\"exit 42\"]" };
    make_container("down", &o);
    char *efifo = make_fifo(g_wd, "exit_fifo");
    char pj[1024];
    snprintf(pj, sizeof pj, "{\"exit_fifo\":\"%s\",\"runtime\":\"runc\"}", efifo);
    write_text(g_wd, "process.json", pj);
    /* A stale record from an earlier run must not survive the start. */
    write_text(g_wd, "exit.json", "{\"exit_code\":7,\"signal\":0,\"pid\":1,\"start_time\":1,\"time\":\"x\"}");
    int efd = open_reader(efifo);
    pid_t shim = start_shim(NULL);
    wait_created();
    char *rec = wd_path("exit.json");
    struct stat st;
    CHECK_MSG(lstat(rec, &st) != 0, "stale exit.json not removed at start");
    int code = -1;
    CHECK_MSG(supervisor_exit_record(g_wd, &code) == -1 && errno == ENOENT,
              "exit record before the container ran: code %d errno %d", code, errno);
    /* The engine goes away: the shim's FIFO write will find no reader. */
    close(efd);
    CHECK(sh("runc --root %s/runc start %s", g_wd, g_id) == 0);
    int rc = wait_shim(shim, WAIT_MS);
    CHECK_MSG(rc == 0, "shim exit %d with no FIFO reader, expected 0", rc);
    /* The status went to stdout too. */
    char *outp = wd_path("shim.out");
    size_t len = 0;
    char *out = tu_read_file(outp, &len);
    CHECK_MSG(out != NULL && len == 4, "shim stdout: %zu bytes", len);
    int st_out;
    memcpy(&st_out, out, 4);
    CHECK_MSG(st_out == 42, "stdout status %d", st_out);

    code = -1;
    CHECK_MSG(supervisor_exit_record(g_wd, &code) == 0, "supervisor_exit_record: errno %d", errno);
    CHECK_MSG(code == 42, "record code %d, expected 42", code);
    CHECK_MSG(lstat(rec, &st) == 0 && (st.st_mode & 0777) == 0600, "exit.json mode %o", st.st_mode & 0777);
    char *text = tu_read_file(rec, NULL);
    yajl_val doc = text ? tu_json_parse(text) : NULL;
    CHECK_MSG(doc != NULL, "exit.json is not JSON");
    CHECK(tu_json_int(doc, "exit_code") == 42);
    CHECK(tu_json_int(doc, "signal") == 0);
    CHECK(tu_json_int(doc, "pid") > 0);
    CHECK(tu_json_int(doc, "start_time") > 0);
    const char *t = tu_json_str(doc, "time");
    CHECK_MSG(t != NULL && strlen(t) == 30 && t[29] == 'Z' && t[19] == '.', "time \"%s\"", t ? t : "(null)");
    yajl_tree_free(doc);
    expect_no_container();
    free(text); free(out); free(outp); free(rec); free(efifo);
    finish_case();
}

/* ---- shim failpoints: a fault at each step loses nothing ----------------- */

/* Runs a container that exits 42 with the shim's failpoints armed; returns
 * the shim's exit code and how many status bytes the exit FIFO carried. */
static int faulty_run(const char *tag, const char *failpoints, int *fifo_bytes, int *fifo_code)
{
    bundle_opts o = { .args_json = "[\"/bin/sh\",\"-c\",\"exit 42\"]" };
    make_container(tag, &o);
    char *efifo = make_fifo(g_wd, "exit_fifo");
    char pj[1024];
    snprintf(pj, sizeof pj, "{\"exit_fifo\":\"%s\",\"runtime\":\"runc\"}", efifo);
    write_text(g_wd, "process.json", pj);
    int efd = open_reader(efifo);
    g_failpoints = failpoints;
    pid_t shim = start_shim(NULL);
    g_failpoints = NULL;
    int rc;
    if (strstr(failpoints, "shim.runtime.create") != NULL) {
        rc = wait_shim(shim, WAIT_MS);
    } else {
        runc_start();
        rc = wait_shim(shim, WAIT_MS);
    }
    *fifo_code = -1;
    *fifo_bytes = read_status(efd, fifo_code, WAIT_MS);
    close(efd);
    free(efifo);
    return rc;
}

/* The FIFO write fails: the engine sees no status (137 for the library), but
 * the exit record written before it still holds the real code. */
TEST(fault_fifo_write)
{
    int bytes, code;
    int rc = faulty_run("ffifo", "shim.fifo.write=error", &bytes, &code);
    CHECK_MSG(rc == 0, "shim exit %d", rc);
    CHECK_MSG(bytes == 0, "%d status bytes reached the FIFO", bytes);
    int rec = -1;
    CHECK_MSG(supervisor_exit_record(g_wd, &rec) == 0 && rec == 42, "exit record %d (errno %d)", rec, errno);
    expect_no_container();
    finish_case();
}

/* The exit record cannot be written: the status still reaches the FIFO. */
TEST(fault_exit_record)
{
    int bytes, code;
    int rc = faulty_run("frec", "shim.exit_record=error:28", &bytes, &code);
    CHECK_MSG(rc == 0, "shim exit %d", rc);
    CHECK_MSG(bytes == 4 && code == 42, "FIFO: %d bytes, code %d", bytes, code);
    int rec = -1;
    CHECK_MSG(supervisor_exit_record(g_wd, &rec) == -1 && errno == ENOENT, "exit record %d (errno %d)", rec, errno);
    char *err = wd_path("shim.err");
    char *text = tu_read_file(err, NULL);
    CHECK_MSG(text != NULL && strstr(text, "exit record") != NULL, "no error logged for the record");
    free(text); free(err);
    expect_no_container();
    finish_case();
}

/* The runtime cannot be started: a clear error, exit 1, nothing created. */
TEST(fault_runtime_create)
{
    int bytes, code;
    int rc = faulty_run("fcreate", "shim.runtime.create=error", &bytes, &code);
    CHECK_MSG(rc == 1, "shim exit %d, expected 1", rc);
    CHECK_MSG(bytes == 0, "%d status bytes on a failed start", bytes);
    expect_no_container();
    finish_case();
}

/* `runc delete` fails: the status is delivered, the runtime's state stays,
 * and the library's RUNTIME cleaner (as an engine tracks it) removes it. */
TEST(fault_runtime_delete)
{
    int bytes, code;
    int rc = faulty_run("fdelete", "shim.runtime.delete=error", &bytes, &code);
    CHECK_MSG(rc == 0, "shim exit %d", rc);
    CHECK_MSG(bytes == 4 && code == 42, "FIFO: %d bytes, code %d", bytes, code);
    CHECK_MSG(runc_count() == 1, "the failed delete should leave the container in runc's state");
    char *root = tu_setup_root("fdelete-lib");
    tu_install_recorder(NULL);
    char *runc_root = wd_path("runc");
    CHECK(supervisor_track_resource(g_id, SUPERVISOR_RES_RUNTIME, runc_root) == 0);
    pid_ppid_info_t gone = { 0 };
    CHECK(gc_add_container(g_id, "runc", &gone) == 0);
    CHECK(start_gchandler() == 0);
    CHECK_MSG(tu_events_wait(tu_gc_done, g_id, 1, WAIT_MS), "no gc_done for the left-over runtime state");
    expect_no_container();
    CHECK(supervisor_shutdown() == 0);
    free(runc_root);
    (void)root;
    finish_case();
}

TEST(exit_record_errors)
{
    char *dir = tu_mkdtemp("exitrec");
    char *rec = tu_path_join(dir, "exit.json");
    int code = -1;
    /* No record, no directory. */
    ASSERT_FAILS(supervisor_exit_record(dir, &code), ENOENT);
    char *gone = tu_path_join(dir, "no-such-dir");
    ASSERT_FAILS(supervisor_exit_record(gone, &code), ENOENT);
    ASSERT_FAILS(supervisor_exit_record(NULL, &code), EINVAL);
    /* A good record reads back. */
    const char *good = "{\"exit_code\":143,\"signal\":15,\"pid\":12,\"start_time\":34,"
                       "\"time\":\"2024-01-01T00:00:00.000000000Z\"}";
    tu_write_file(rec, good, strlen(good));
    ASSERT_OK(supervisor_exit_record(dir, &code));
    ASSERT_EQ(code, 143);
    ASSERT_FAILS(supervisor_exit_record(dir, NULL), EINVAL);
    /* Damaged: truncated, not JSON, out of range, inconsistent, empty. */
    const char *bad[] = {
        "{\"exit_code\":143,\"signal\":15,\"pid\":",
        "garbage",
        "",
        "{\"exit_code\":300,\"signal\":0,\"pid\":12,\"start_time\":34,\"time\":\"t\"}",
        "{\"exit_code\":-1,\"signal\":0,\"pid\":12,\"start_time\":34,\"time\":\"t\"}",
        "{\"exit_code\":\"0\",\"signal\":0,\"pid\":12,\"start_time\":34,\"time\":\"t\"}",
        "{\"exit_code\":137,\"signal\":15,\"pid\":12,\"start_time\":34,\"time\":\"t\"}",
        "[0]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tu_write_file(rec, bad[i], strlen(bad[i]));
        code = -1;
        errno = 0;
        int r = supervisor_exit_record(dir, &code);
        ASSERT_MSG(r == -1 && errno == EINVAL, "record \"%s\": %d/errno %d (code %d), expected -1/EINVAL",
                   bad[i], r, errno, code);
    }
    /* A symlink to a good record is refused, not followed. */
    char *real = tu_path_join(dir, "real.json");
    tu_write_file(real, good, strlen(good));
    ASSERT_OK(unlink(rec));
    ASSERT_OK(symlink(real, rec));
    code = -1;
    errno = 0;
    int r = supervisor_exit_record(dir, &code);
    ASSERT_MSG(r == -1 && errno == EINVAL, "symlinked exit.json: %d/errno %d (code %d)", r, errno, code);
    /* So is a symlinked state dir. */
    ASSERT_OK(unlink(rec));
    tu_write_file(rec, good, strlen(good));
    char *link = tu_path_join(dir, "link");
    ASSERT_OK(symlink(dir, link));
    errno = 0;
    r = supervisor_exit_record(link, &code);
    ASSERT_MSG(r == -1 && errno == EINVAL, "symlinked state dir: %d/errno %d", r, errno);
    /* A FIFO named exit.json must not block the caller. */
    ASSERT_OK(unlink(rec));
    ASSERT_OK(mkfifo(rec, 0600));
    long long t0 = tu_now_ms();
    errno = 0;
    r = supervisor_exit_record(dir, &code);
    ASSERT_MSG(r == -1 && errno == EINVAL, "FIFO exit.json: %d/errno %d", r, errno);
    ASSERT(tu_now_ms() - t0 < 2000);
    free(link); free(real); free(gone); free(rec);
}

/* ------------------------------------------------------------------------ */
/* 5. oom_score_adj                                                          */
/* ------------------------------------------------------------------------ */

static int read_oom(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/oom_score_adj", (int)pid);
    char *t = tu_read_file(path, NULL);
    if (t == NULL) {
        tu_log("read %s: %s", path, strerror(errno));
        return -99999;
    }
    int v = atoi(t);
    free(t);
    return v;
}

/* Whether a child of this process may set oom_score_adj -1000 on itself:
 * needs CAP_SYS_RESOURCE, which some sandboxes drop even for root. */
static bool can_set_oom_min(void)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        _exit(fd >= 0 && write(fd, "-1000", 5) == 5 ? 0 : 1);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

TEST(oom_restore)
{
    bool privileged = can_set_oom_min();
    if (!privileged)
        tu_log("NOTE: no CAP_SYS_RESOURCE here: the shim cannot go to -1000; checking the "
               "refusal is survived and the original value reaches the container");
    /* The container holds on `read` until the test has looked at the shim. */
    bundle_opts o = { .args_json = "[\"/bin/sh\",\"-c\",\"echo oom=$(cat /proc/self/oom_score_adj)/; read x; exit 0\"]" };
    make_container("oom", &o);
    char *efifo = make_fifo(g_wd, "exit_fifo");
    char *ififo = make_fifo(g_wd, "stdin_fifo");
    char *ofifo = make_fifo(g_wd, "stdout_fifo");
    char pj[2048];
    snprintf(pj, sizeof pj,
             "{\"exit_fifo\":\"%s\",\"open_stdin\":true,\"isuladStdin\":\"%s\",\"isuladStdout\":\"%s\","
             "\"runtime\":\"runc\"}", efifo, ififo, ofifo);
    write_text(g_wd, "process.json", pj);
    int efd = open_reader(efifo);
    reader out = { .fd = open_reader(ofifo) };
    pid_t shim = start_shim("100");
    wait_created();
    int shim_oom = read_oom(shim);
    if (privileged) {
        CHECK_MSG(shim_oom == -1000, "shim oom_score_adj %d, expected -1000", shim_oom);
    } else {
        CHECK_MSG(shim_oom == 100, "shim oom_score_adj %d, expected 100 (refused -1000)", shim_oom);
        CHECK_MSG(sh("grep -q oom_score_adj %s/shim.err", g_wd) == 0, "no warning about the refused -1000");
    }
    /* The container's init (runc init until `runc start`) came from the runtime. */
    char *pidp = wd_path("pid");
    char *pidt = tu_read_file(pidp, NULL);
    CHECK(pidt != NULL);
    pid_t cpid = (pid_t)atoi(pidt);
    int init_oom = read_oom(cpid);
    CHECK_MSG(init_oom == 100, "container init oom_score_adj %d, expected 100", init_oom);
    int ifd = open(ififo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK_MSG(ifd >= 0, "open stdin fifo: %s", strerror(errno));
    CHECK(sh("runc --root %s/runc start %s", g_wd, g_id) == 0);
    CHECK_MSG(read_until(&out, "/", WAIT_MS), "stdout FIFO got: \"%s\"", out.buf);
    CHECK_MSG(strstr(out.buf, "oom=100/") != NULL, "container saw \"%s\", expected oom=100", out.buf);
    shim_oom = read_oom(shim);
    CHECK_MSG(shim_oom == (privileged ? -1000 : 100), "shim oom_score_adj %d while the container runs", shim_oom);
    CHECK(write(ifd, "go\n", 3) == 3);
    int status = -1;
    CHECK_MSG(read_status(efd, &status, WAIT_MS) == 4, "no status in the exit FIFO");
    CHECK_MSG(status == 0, "status %d", status);
    CHECK_MSG(wait_shim(shim, WAIT_MS) == 0, "shim did not exit 0");
    expect_no_container();
    close(ifd); close(efd); close(out.fd);
    free(pidt); free(pidp); free(efifo); free(ififo); free(ofifo);
    finish_case();
}

/* ------------------------------------------------------------------------ */
/* 6. exec without timeout                                                   */
/* ------------------------------------------------------------------------ */

static void exec_case(bool tty)
{
    /* The container waits on stdin so the test decides when it ends. */
    bundle_opts o = { .args_json = "[\"/bin/sh\",\"-c\",\"read x; exit 5\"]" };
    make_container("exec", &o);
    char *efifo = make_fifo(g_wd, "exit_fifo");
    char *ififo = make_fifo(g_wd, "stdin_fifo");
    char pj[2048];
    snprintf(pj, sizeof pj, "{\"exit_fifo\":\"%s\",\"open_stdin\":true,\"isuladStdin\":\"%s\",\"runtime\":\"runc\"}",
             efifo, ififo);
    write_text(g_wd, "process.json", pj);
    int efd = open_reader(efifo);
    pid_t shim = start_shim(NULL);
    wait_created();
    int ifd = open(ififo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK_MSG(ifd >= 0, "open stdin fifo: %s", strerror(errno));
    CHECK(sh("runc --root %s/runc start %s", g_wd, g_id) == 0);

    /* <wd>/exec/<exec id>, as iSulad lays it out. */
    char *exec_root = wd_path("exec");
    tu_mkdir(exec_root);
    char *ex = tu_path_join(exec_root, "e1");
    tu_mkdir(ex);
    char *xofifo = make_fifo(ex, "stdout_fifo");
    char *xlog = tu_path_join(ex, "console.log");
    snprintf(pj, sizeof pj,
             "{\"exec\":true,\"runtime\":\"runc\",\"isuladStdout\":\"%s\",\"logPath\":\"%s\","
             "\"args\":[\"/bin/sh\",\"-c\",\"echo exec-ok; exit 3\"],\"cwd\":\"/\",\"env\":[\"PATH=/bin\"],"
             "\"user\":{\"uid\":0,\"gid\":0},\"terminal\":%s}", xofifo, xlog, tty ? "true" : "false");
    write_text(ex, "process.json", pj);
    reader xout = { .fd = open_reader(xofifo) };
    pid_t xshim = start_shim_in(ex, NULL, NULL);
    int rc = wait_shim(xshim, WAIT_MS);
    CHECK_MSG(rc == 0, "exec shim exit %d, expected 0", rc);
    CHECK_MSG(read_until(&xout, tty ? "exec-ok\r\n" : "exec-ok\n", 5000), "exec stdout FIFO got: \"%s\"", xout.buf);
    CHECK_MSG(log_has(xlog, "stdout", "exec-ok"), "exec-ok not in %s", xlog);
    /* iSulad reads an exec's status from the shim's stdout. */
    char *outp = tu_path_join(ex, "shim.out");
    size_t len = 0;
    char *outb = tu_read_file(outp, &len);
    CHECK_MSG(outb != NULL && len == 4, "exec shim stdout: %zu bytes", len);
    int xs;
    memcpy(&xs, outb, 4);
    CHECK_MSG(xs == 3, "exec status %d, expected 3", xs);
    /* Exec shims write no exit record, and the container's is not there yet. */
    char *xrec = tu_path_join(ex, "exit.json");
    struct stat st;
    CHECK_MSG(lstat(xrec, &st) != 0 && errno == ENOENT, "exec shim wrote %s", xrec);
    char *rec = wd_path("exit.json");
    CHECK_MSG(lstat(rec, &st) != 0, "container exit.json while it runs");
    /* The container is untouched by the exec's end. */
    CHECK(sh("runc --root %s/runc state %s | grep -q '\"status\": \"running\"'", g_wd, g_id) == 0);
    int status = -1;
    CHECK_MSG(read_status(efd, &status, 300) == -1, "container status arrived early: %d", status);

    CHECK(write(ifd, "end\n", 4) == 4);
    CHECK_MSG(read_status(efd, &status, WAIT_MS) == 4, "no container status");
    CHECK_MSG(status == 5, "container status %d, expected 5", status);
    CHECK_MSG(wait_shim(shim, WAIT_MS) == 0, "container shim did not exit 0");
    CHECK(lstat(xrec, &st) != 0);
    expect_no_container();
    close(ifd); close(efd); close(xout.fd);
    free(rec); free(xrec); free(outb); free(outp); free(xlog); free(xofifo); free(ex); free(exec_root);
    free(efifo); free(ififo);
    finish_case();
}

TEST(exec_status) { exec_case(false); }

/* "terminal": true in the exec's process.json: runc exec gets a console
 * socket too; the pty's CRLF shows the output went through it. */
TEST(exec_tty) { exec_case(true); }

/* ---- the shim <-> library contract, end to end --------------------------- */

/* The pid in <wd>/pid (written by runc create). */
static int read_pid_file(void)
{
    char *p = wd_path("pid");
    char *text = tu_read_file(p, NULL);
    free(p);
    int pid = text ? atoi(text) : 0;
    free(text);
    return pid;
}

/* What the shim writes and the library reads agree: a container killed by
 * SIGKILL reaches the library's container_stopped hook as 137 through the
 * 4-byte FIFO status, exit.json holds signal 9, the container's pid and the
 * same start time (clock ticks, /proc/<pid>/stat field 22) the engine saw,
 * and supervisor_exit_record returns 137 from it. */
TEST(exit_contract)
{
    char *root = tu_setup_root("contract");
    tu_install_recorder(NULL);
    CHECK(new_supervisor() == 0);
    bundle_opts o = { .args_json = "[\"/bin/sleep\",\"100\"]" };
    make_container("contract", &o);
    char *efifo = container_exit_fifo_create(g_wd);
    CHECK(efifo != NULL);
    char pj[1024];
    snprintf(pj, sizeof pj, "{\"exit_fifo\":\"%s\",\"runtime\":\"runc\"}", efifo);
    write_text(g_wd, "process.json", pj);
    int efd = container_exit_fifo_open(efifo);
    CHECK_MSG(efd >= 0, "container_exit_fifo_open: %s", strerror(errno));
    pid_t shim = start_shim(NULL);
    wait_created();
    int pid = read_pid_file();
    pid_ppid_info_t info = { .pid = pid, .ppid = shim };
    CHECK_MSG(pid > 0 && tu_proc_start_time(pid, &info.start_time), "container pid %d", pid);
    CHECK(tu_proc_start_time(shim, &info.pstart_time));
    CHECK_MSG(container_supervisor_add_exit_monitor(efd, &info, g_id, "runc") == 0,
              "add_exit_monitor: %s", strerror(errno));
    CHECK(sh("runc --root %s/runc start %s", g_wd, g_id) == 0);
    CHECK(sh("runc --root %s/runc kill %s KILL", g_wd, g_id) == 0);
    CHECK_MSG(tu_events_wait(tu_stopped, g_id, 1, WAIT_MS), "no container_stopped for %s", g_id);
    int spid = 0, scode = 0;
    CHECK(tu_events_last(tu_stopped, g_id, &spid, &scode));
    CHECK_MSG(scode == 137, "container_stopped exit code %d, expected 137", scode);
    CHECK_MSG(spid == pid, "container_stopped pid %d, expected %d", spid, pid);
    CHECK_MSG(wait_shim(shim, WAIT_MS) == 0, "shim did not exit 0");
    int rec = -1;
    CHECK_MSG(supervisor_exit_record(g_wd, &rec) == 0 && rec == 137, "exit record %d (errno %d)", rec, errno);
    char *recp = wd_path("exit.json");
    char *text = tu_read_file(recp, NULL);
    yajl_val doc = text ? tu_json_parse(text) : NULL;
    CHECK_MSG(doc != NULL, "exit.json is not JSON");
    CHECK(tu_json_int(doc, "exit_code") == 137);
    CHECK(tu_json_int(doc, "signal") == 9);
    CHECK(tu_json_int(doc, "pid") == pid);
    CHECK_MSG((unsigned long long)tu_json_int(doc, "start_time") == info.start_time,
              "exit.json start_time %lld, /proc said %llu", tu_json_int(doc, "start_time"), info.start_time);
    yajl_tree_free(doc);
    expect_no_container();
    CHECK(supervisor_shutdown() == 0);
    free(text); free(recp); free(efifo); free(root);
    finish_case();
}

/* ---- hostile input and stray signals ------------------------------------- */

/* A 2 MB process.json nested a million deep (under the 4 MiB limit): exit 1
 * with a message naming the nesting, not a stack overflow in yajl; nothing
 * created (no runtime state, no pid file, no console socket). */
TEST(nested_process_json)
{
    bundle_opts o = { .args_json = "[\"/bin/true\"]" };
    make_container("nested", &o);
    const size_t depth = 1000000;
    const char *head = "{\"runtime\":\"runc\",\"x\":";
    size_t len = strlen(head) + 2 * depth + 2;
    char *pj = malloc(len + 1);
    CHECK(pj != NULL);
    size_t at = strlen(head);
    memcpy(pj, head, at);
    memset(pj + at, '[', depth);
    memset(pj + at + depth, ']', depth);
    memcpy(pj + at + 2 * depth, "}", 2);
    write_text(g_wd, "process.json", pj);
    free(pj);
    pid_t shim = start_shim(NULL);
    int rc = wait_shim(shim, WAIT_MS);
    CHECK_MSG(rc == 1, "shim exit %d on a deeply nested process.json, expected 1", rc);
    char *errp = wd_path("shim.err");
    char *err = tu_read_file(errp, NULL);
    CHECK_MSG(err != NULL && strstr(err, "nesting") != NULL, "no nesting message: \"%s\"", err ? err : "");
    const char *absent[] = { "runc", "pid", "console-socket", "exit.json", "log.json" };
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        char *p = wd_path(absent[i]);
        CHECK_MSG(!tu_exists(p), "%s created for a refused process.json", p);
        free(p);
    }
    free(err); free(errp);
    finish_case();
}

static bool file_has(const char *path, const char *needle)
{
    char *text = tu_read_file(path, NULL);
    bool found = text != NULL && strstr(text, needle) != NULL;
    free(text);
    return found;
}

typedef struct { const char *path; const char *needle; } file_needle;
static bool file_has_pred(void *arg)
{
    file_needle *f = arg;
    return file_has(f->path, f->needle);
}

/* SIGTERM, SIGHUP and SIGINT do not end the shim: each is logged once, the
 * container keeps running supervised, and its real status (7, from its own
 * exit) is delivered afterwards. */
TEST(signals_ignored)
{
    bundle_opts o = { .args_json = "[\"/bin/sh\",\"-c\",\"trap 'exit 7' USR1; while :; do sleep 1; done\"]" };
    make_container("signals", &o);
    char *efifo = make_fifo(g_wd, "exit_fifo");
    char pj[1024];
    snprintf(pj, sizeof pj, "{\"exit_fifo\":\"%s\",\"runtime\":\"runc\"}", efifo);
    write_text(g_wd, "process.json", pj);
    int efd = open_reader(efifo);
    pid_t shim = start_shim(NULL);
    runc_start();
    char *errp = wd_path("shim.err");
    const int sigs[] = { SIGTERM, SIGHUP, SIGINT };
    const char *names[] = { "SIGTERM", "SIGHUP", "SIGINT" };
    for (int i = 0; i < 3; i++) {
        CHECK(kill(shim, sigs[i]) == 0);
        char needle[64];
        snprintf(needle, sizeof needle, "received %s", names[i]);
        file_needle f = { errp, needle };
        CHECK_MSG(tu_poll_until(file_has_pred, &f, WAIT_MS), "no log line for %s (shim alive: %d)",
                  names[i], kill(shim, 0) == 0);
    }
    int st;
    CHECK_MSG(!tu_reap(shim, 300, &st), "the shim ended after SIGTERM/SIGHUP/SIGINT");
    CHECK_MSG(runc_count() == 1, "the container is gone");
    CHECK(sh("runc --root %s/runc kill %s USR1", g_wd, g_id) == 0);
    int code = -1;
    CHECK_MSG(read_status(efd, &code, WAIT_MS) == 4 && code == 7, "status %d, expected 7", code);
    CHECK_MSG(wait_shim(shim, WAIT_MS) == 0, "shim did not exit 0");
    int rec = -1;
    CHECK_MSG(supervisor_exit_record(g_wd, &rec) == 0 && rec == 7, "exit record %d", rec);
    expect_no_container();
    close(efd);
    free(errp); free(efifo);
    finish_case();
}

static const tu_case cases[] = {
    TU_CASE(fault_fifo_write),
    TU_CASE(fault_exit_record),
    TU_CASE(fault_runtime_create),
    TU_CASE(fault_runtime_delete),
    TU_CASE(tty_output),
    TU_CASE(tty_resize),
    TU_CASE(stdin_ping),
    TU_CASE(stdin_eof),
    TU_CASE(stdin_slow_reader),
    TU_CASE(tty_stdin),
    TU_CASE(runtime_fail_tty),
    TU_CASE(runtime_fail_rootfs),
    TU_CASE(runtime_fail_args),
    TU_CASE(engine_down),
    TU_CASE(exit_record_errors),
    TU_CASE(oom_restore),
    TU_CASE(exec_status),
    TU_CASE(exec_tty),
    TU_CASE(exit_contract),
    TU_CASE(nested_process_json),
    TU_CASE(signals_ignored),
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    return TU_MAIN(argc, argv, cases);
}
