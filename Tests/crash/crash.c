/* Crash consistency of garbage.json (issue 6, item 2).
 *
 * crash_random_kill: hundreds of rounds; each round re-executes this binary
 * as a "writer" child on one long-lived root dir. The writer restores the GC
 * list (new_gchandler), starts the collector, and from two threads adds
 * fresh GC entries; the clean_resource hook succeeds at random, so entries
 * also leave the list. Over a pipe the writer reports
 *     "R <n>"  gc_add_container returned 0 for crash-<n> (durable)
 *     "C <n>"  the clean hook is about to return 0 for crash-<n>
 *     "D <n>"  gc_done(crash-<n>) (removal durable)
 * and the parent SIGKILLs it at a random instant (during restore, or while
 * adding and collecting). Some rounds instead arm the failpoint `crash` at
 * gc.persist.rename or gc.persist.dirsync on a fresh root, so the writer
 * kills itself mid-commit. After every kill the parent checks:
 *   - garbage.json parses (yajl) and is a GC list; no temp file is mistaken
 *     for it and no garbage.json.corrupt-* appeared (a torn file would be);
 *   - every entry whose add returned and whose cleanup had not succeeded is
 *     in it; no entry whose gc_done was reported is in it.
 * A final restore round runs a fresh process whose cleanup always succeeds:
 * every entry still owed must be collected (gc_done) and the list empties.
 *
 * Bounded: CRASH_ROUNDS (default 300) rounds, CRASH_BUDGET_MS (default
 * 60000) in total; every wait has a deadline.
 */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define IDS_PER_ROUND 1000 /* id numbers reserved per round (far more than fit in one) */
#define WAIT_MS 15000

/* ------------------------------------------------------------------------ */
/* Writer child                                                             */
/* ------------------------------------------------------------------------ */

static int report_fd = -1;
static atomic_long next_id;
static long id_limit;
static atomic_int clean_percent = 50;

static void report(char tag, long n)
{
    char line[32];
    int len = snprintf(line, sizeof(line), "%c %ld\n", tag, n);
    /* One short write: atomic on a pipe, so a kill never tears a line. */
    if (write(report_fd, line, (size_t)len) != len) _exit(3);
}

static long id_number(const char *id)
{
    if (strncmp(id, "crash-", 6) != 0) return -1;
    char *end = NULL;
    long n = strtol(id + 6, &end, 10);
    return (end != NULL && *end == '\0') ? n : -1;
}

static int writer_clean(void *ctx, const char *id, const char *runtime, int pid)
{
    (void)ctx;
    (void)runtime;
    (void)pid;
    static _Thread_local unsigned seed;
    if (seed == 0) seed = (unsigned)(uintptr_t)&seed ^ (unsigned)getpid();
    if ((int)(rand_r(&seed) % 100) >= atomic_load(&clean_percent)) return 1;
    report('C', id_number(id));
    return 0;
}

static void writer_gc_done(void *ctx, const char *id)
{
    (void)ctx;
    report('D', id_number(id));
}

static void writer_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg; /* failpoint errors are expected; keep stderr quiet */
}

static void *writer_adder(void *arg)
{
    pid_ppid_info_t *info = arg;
    for (;;) {
        long n = atomic_fetch_add(&next_id, 1);
        if (n >= id_limit) return NULL;
        char id[32];
        snprintf(id, sizeof(id), "crash-%ld", n);
        if (gc_add_container(id, "runc", info) == 0) report('R', n);
    }
}

static long env_long(const char *name)
{
    const char *v = getenv(name);
    ASSERT_MSG(v != NULL, "%s not set: this case is run by crash_random_kill", name);
    return strtol(v, NULL, 10);
}

/* Not a ctest case: the writer re-executed by the rounds. */
TEST(crash_writer)
{
    report_fd = (int)env_long("CRASH_FD");
    atomic_store(&next_id, env_long("CRASH_ID_BASE"));
    id_limit = env_long("CRASH_ID_BASE") + IDS_PER_ROUND;
    atomic_store(&clean_percent, (int)env_long("CRASH_CLEAN_PERCENT"));
    const char *root = getenv("CRASH_ROOT");
    ASSERT(root != NULL);
    signal(SIGPIPE, SIG_IGN);

    ASSERT_OK(supervisor_set_option("root_dir", root));
    ASSERT_OK(supervisor_set_option("gc_retry_initial_ms", "2"));
    ASSERT_OK(supervisor_set_option("gc_retry_max_ms", "20"));
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof(ops));
    ops.struct_size = sizeof(ops);
    ops.clean_resource = writer_clean;
    ops.gc_done = writer_gc_done;
    ops.log = writer_log;
    ASSERT_OK(supervisor_set_engine_ops(&ops));

    /* A process that is gone, so GC goes straight to cleanup. */
    static pid_ppid_info_t info;
    tu_dead_pid(&info.pid, &info.start_time);
    info.ppid = info.pid;
    info.pstart_time = info.start_time;

    ASSERT_OK(new_gchandler()); /* restores the previous round's list */
    ASSERT_OK(start_gchandler());
    report('S', 0);
    if (getenv("CRASH_NO_ADDS") != NULL) {
        /* Restore round: only collect; the parent ends us. */
        for (;;) pause();
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++) ASSERT(pthread_create(&t[i], NULL, writer_adder, &info) == 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    report('E', 0);
    for (;;) pause();
}

/* ------------------------------------------------------------------------ */
/* Parent: the model of what must (not) be on disk                          */
/* ------------------------------------------------------------------------ */

enum { ST_NONE = 0, ST_RETURNED = 1, ST_CLEANED = 2, ST_DONE = 3 };

typedef struct model {
    unsigned char *st; /* per id number; only ever moves up (events may interleave) */
    long cap;          /* id numbers 0..cap-1 */
    long returned, cleaned, done;
} model;

static void model_init(model *m, long cap)
{
    m->cap = cap;
    m->st = calloc((size_t)cap, 1);
    ASSERT(m->st != NULL);
    m->returned = m->cleaned = m->done = 0;
}

static void model_event(model *m, char tag, long n)
{
    if (tag == 'S' || tag == 'E') return;
    ASSERT_MSG(n >= 0 && n < m->cap, "writer reported id number %ld", n);
    int to = tag == 'R' ? ST_RETURNED : tag == 'C' ? ST_CLEANED : tag == 'D' ? ST_DONE : -1;
    ASSERT_MSG(to >= 0, "writer reported unknown event %c", tag);
    if (tag == 'R') m->returned++;
    if (tag == 'C') m->cleaned++;
    if (tag == 'D') m->done++;
    if (m->st[n] < to) m->st[n] = (unsigned char)to;
}

/* Reads whole lines from fd into the model; returns the number of lines.
 * Stops at EOF, when `stop` (a tag) was seen, or when deadline passes. */
typedef struct reader {
    int fd;
    char buf[4096];
    size_t len;
    bool eof;
} reader;

static int read_events(reader *r, model *m, long long deadline_ms, char stop, bool *seen_stop)
{
    int lines = 0;
    while (!r->eof) {
        long long left = deadline_ms - tu_now_ms();
        if (left < 0) left = 0;
        struct pollfd p = { .fd = r->fd, .events = POLLIN };
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR) continue;
        ASSERT_MSG(pr >= 0, "poll: %s", strerror(errno));
        if (pr == 0) break;
        ssize_t n = read(r->fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        ASSERT_MSG(n >= 0, "read: %s", strerror(errno));
        if (n == 0) r->eof = true;
        r->len += (size_t)n;
        char *start = r->buf, *nl;
        while ((nl = memchr(start, '\n', r->len - (size_t)(start - r->buf))) != NULL) {
            *nl = '\0';
            char tag = start[0];
            long num = strtol(start + 1, NULL, 10);
            model_event(m, tag, num);
            lines++;
            if (seen_stop != NULL && tag == stop) *seen_stop = true;
            start = nl + 1;
        }
        r->len -= (size_t)(start - r->buf);
        memmove(r->buf, start, r->len);
        if (seen_stop != NULL && *seen_stop) break;
        if (tu_now_ms() >= deadline_ms) break;
    }
    return lines;
}

static bool has_corrupt_copy(const char *root)
{
    DIR *d = opendir(root);
    ASSERT(d != NULL);
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "garbage.json.corrupt", 20) == 0) found = true;
    closedir(d);
    return found;
}

/* The invariant, checked after every kill. Returns the entries on disk. */
static int check_disk(const char *root, const model *m, long id_lo, long id_hi, int round)
{
    ASSERT_MSG(!has_corrupt_copy(root), "round %d: a garbage.json.corrupt-* appeared in %s", round, root);
    char *path = tu_path_join(root, "garbage.json");
    struct stat st;
    int on_disk = 0;
    unsigned char *present = calloc((size_t)m->cap, 1);
    ASSERT(present != NULL);
    if (lstat(path, &st) == 0) {
        ASSERT_MSG(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
                   "round %d: garbage.json mode %o", round, st.st_mode);
        char *text = tu_read_file(path, NULL);
        ASSERT_MSG(text != NULL, "round %d: cannot read garbage.json: %s", round, strerror(errno));
        yajl_val tree = tu_json_parse(text);
        ASSERT_MSG(tree != NULL, "round %d: garbage.json is not JSON (torn write?): %.200s", round, text);
        yajl_val list = tu_garbage_list(tree);
        ASSERT_MSG((list != NULL && YAJL_IS_ARRAY(list)) || strcmp(text, "{}") == 0,
                   "round %d: garbage.json has no GcContainers array: %.200s", round, text);
        for (size_t i = 0; list != NULL && i < list->u.array.len; i++) {
            yajl_val e = list->u.array.values[i];
            const char *id = tu_json_str(e, "id");
            ASSERT_MSG(id != NULL, "round %d: entry %zu has no id", round, i);
            ASSERT_STREQ(tu_json_str(e, "runtime"), "runc");
            long n = id_number(id);
            ASSERT_MSG(n >= 0 && n < m->cap, "round %d: unexpected id %s", round, id);
            ASSERT_MSG(!present[n], "round %d: %s listed twice", round, id);
            present[n] = 1;
            ASSERT_MSG(m->st[n] != ST_DONE, "round %d: %s is on disk although its gc_done was reported", round, id);
            on_disk++;
        }
        yajl_tree_free(tree);
        free(text);
    } else {
        ASSERT_MSG(errno == ENOENT, "round %d: lstat garbage.json: %s", round, strerror(errno));
    }
    for (long n = id_lo; n < id_hi; n++)
        ASSERT_MSG(m->st[n] != ST_RETURNED || present[n],
                   "round %d: crash-%ld is missing although gc_add_container returned and it was never cleaned",
                   round, n);
    free(present);
    free(path);
    return on_disk;
}

/* Spawns the writer with the pipe's write end as CRASH_FD. */
static pid_t spawn_writer(const char *root, long id_base, int clean_percent_v, const char *failpoints,
                          bool no_adds, reader *r)
{
    int fds[2];
    ASSERT(pipe2(fds, O_CLOEXEC) == 0);
    /* Only the write end crosses exec. */
    int wfd = fcntl(fds[1], F_DUPFD, 100);
    ASSERT(wfd >= 0);
    close(fds[1]);
    char e_fd[32], e_base[48], e_root[PATH_MAX + 16], e_pct[48], e_fp[256];
    snprintf(e_fd, sizeof(e_fd), "CRASH_FD=%d", wfd);
    snprintf(e_base, sizeof(e_base), "CRASH_ID_BASE=%ld", id_base);
    snprintf(e_root, sizeof(e_root), "CRASH_ROOT=%s", root);
    snprintf(e_pct, sizeof(e_pct), "CRASH_CLEAN_PERCENT=%d", clean_percent_v);
    snprintf(e_fp, sizeof(e_fp), "SUPERVISOR_FAILPOINTS=%s", failpoints ? failpoints : "");
    const char *env[] = { e_fd, e_base, e_root, e_pct, e_fp, no_adds ? "CRASH_NO_ADDS=1" : NULL, NULL };
    pid_t pid = tu_spawn_self("crash_writer", env);
    close(wfd);
    r->fd = fds[0];
    r->len = 0;
    r->eof = false;
    return pid;
}

static long env_or(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? strtol(v, NULL, 10) : dflt;
}

/* Ends the writer (already dead for failpoint rounds) and drains its reports. */
static void finish_writer(pid_t pid, reader *r, model *m, bool expect_self_kill, int round)
{
    int status = 0;
    if (expect_self_kill) {
        /* The failpoint SIGKILLs the writer itself at its first commit. */
        read_events(r, m, tu_now_ms() + WAIT_MS, 0, NULL);
        ASSERT_MSG(tu_reap(pid, WAIT_MS, &status), "round %d: failpoint crash did not end the writer", round);
        ASSERT_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                   "round %d: writer status %#x, expected death by the crash failpoint", round, status);
    } else {
        kill(pid, SIGKILL);
        ASSERT_MSG(tu_reap(pid, WAIT_MS, &status), "round %d: writer did not die", round);
        /* It must have been running until our kill, not failed on its own. */
        ASSERT_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                   "round %d: writer ended by itself (status %#x) before the kill", round, status);
    }
    /* All writers are gone: read to EOF. */
    read_events(r, m, tu_now_ms() + WAIT_MS, 0, NULL);
    ASSERT_MSG(r->eof, "round %d: report pipe not at EOF", round);
    close(r->fd);
}

TEST(crash_random_kill)
{
    long rounds = env_or("CRASH_ROUNDS", 300);
    long budget = env_or("CRASH_BUDGET_MS", 60000);
    unsigned seed = (unsigned)env_or("CRASH_SEED", (long)(tu_now_ms() ^ getpid()));
    tu_log("rounds %ld, budget %ld ms, seed %u (CRASH_SEED=%u reproduces the schedule)", rounds, budget, seed, seed);
    char *root = tu_mkdtemp("crash");
    model m;
    model_init(&m, (rounds + 1) * IDS_PER_ROUND);
    long long start = tu_now_ms();
    long next_base = 0;
    int done_rounds = 0, killed_in_restore = 0, fp_rename = 0, fp_dirsync = 0, max_on_disk = 0;
    long fp_returned = 0;

    for (int round = 0; round < rounds; round++) {
        ASSERT_MSG(tu_now_ms() - start < budget, "time budget of %ld ms exhausted after %d rounds", budget, round);
        long base = next_base;
        next_base += IDS_PER_ROUND;
        int kind = round % 10;
        reader r;
        if (kind == 3 || kind == 8) {
            /* Failpoint crash mid-commit on a fresh root: no add can return. */
            const char *fp = kind == 3 ? "gc.persist.rename=crash" : "gc.persist.dirsync=crash";
            char *fresh = tu_mkdtemp("crash-fp");
            model fm;
            model_init(&fm, IDS_PER_ROUND);
            pid_t pid = spawn_writer(fresh, 0, 50, fp, false, &r);
            finish_writer(pid, &r, &fm, true, round);
            ASSERT_MSG(fm.returned == 0, "round %d: %ld adds returned although every commit crashed (%s)",
                       round, fm.returned, fp);
            fp_returned += fm.returned;
            int n = check_disk(fresh, &fm, 0, IDS_PER_ROUND, round);
            if (kind == 3) {
                /* Crash before rename: the file never appeared. */
                char *gj = tu_path_join(fresh, "garbage.json");
                ASSERT_MSG(n == 0 && access(gj, F_OK) != 0,
                           "round %d: garbage.json exists although the first rename crashed", round);
                free(gj);
                fp_rename++;
            } else {
                /* Crash after rename, before the directory fsync: the new list is
                 * in place (it may be empty: an entry can be added and collected
                 * before the first commit starts, and both ride in it). */
                char *gj = tu_path_join(fresh, "garbage.json");
                ASSERT_MSG(access(gj, F_OK) == 0, "round %d: no garbage.json after a crash past the rename", round);
                free(gj);
                (void)n;
                fp_dirsync++;
            }
            free(fm.st);
            tu_rm_rf(fresh);
            free(fresh);
            done_rounds++;
            continue;
        }
        /* Random kill on the long-lived root. Every 5th round dies during
         * start-up/restore; the others after adds and collection began. */
        /* The last rounds never clean, so the restore round has work owed. */
        int pct = round >= rounds - 10 ? 0 : (int)(rand_r(&seed) % 80);
        pid_t pid = spawn_writer(root, base, pct, NULL, false, &r);
        if (round % 5 == 1) {
            int ms = (int)(rand_r(&seed) % 15);
            read_events(&r, &m, tu_now_ms() + ms, 0, NULL);
            killed_in_restore++;
        } else {
            bool started = false;
            read_events(&r, &m, tu_now_ms() + WAIT_MS, 'S', &started);
            ASSERT_MSG(started, "round %d: writer did not start within %d ms", round, WAIT_MS);
            int ms = (int)(rand_r(&seed) % 80);
            read_events(&r, &m, tu_now_ms() + ms, 0, NULL);
        }
        finish_writer(pid, &r, &m, false, round);
        int n = check_disk(root, &m, 0, next_base, round);
        if (n > max_on_disk) max_on_disk = n;
        done_rounds++;
    }
    ASSERT_MSG(fp_returned == 0, "failpoint rounds returned adds");

    /* Restore round: a fresh process restores the list and collects all of
     * it (cleanup always succeeds); everything owed must be gc_done. */
    reader r;
    pid_t pid = spawn_writer(root, 0, 100, NULL, true, &r);
    long owed = 0;
    for (long n = 0; n < next_base; n++)
        if (m.st[n] == ST_RETURNED) owed++;
    long long deadline = tu_now_ms() + WAIT_MS;
    for (;;) {
        read_events(&r, &m, tu_now_ms() + 50, 0, NULL);
        long left = 0;
        for (long n = 0; n < next_base; n++)
            if (m.st[n] == ST_RETURNED) left++;
        if (left == 0 && tu_garbage_count(root) == 0) break;
        ASSERT_MSG(tu_now_ms() < deadline, "restore round: %ld entries never collected, %d still on disk", left,
                   tu_garbage_count(root));
    }
    finish_writer(pid, &r, &m, false, (int)rounds);
    ASSERT_EQ(tu_garbage_count(root), 0);
    check_disk(root, &m, 0, next_base, (int)rounds);
    tu_log("%d rounds in %lld ms: %d random kills (%d during start-up/restore), %d crashes at gc.persist.rename, "
           "%d at gc.persist.dirsync; %ld adds returned, %ld cleaned, %ld gc_done; max %d entries on disk; "
           "restore round collected %ld owed entries",
           done_rounds, tu_now_ms() - start, done_rounds - fp_rename - fp_dirsync, killed_in_restore, fp_rename,
           fp_dirsync, m.returned, m.cleaned, m.done, max_on_disk, owed);
    free(m.st);
}

static const tu_case cases[] = {
    TU_CASE(crash_random_kill),
    TU_CASE(crash_writer),
};

int main(int argc, char **argv) { return TU_MAIN(argc, argv, cases); }
