/* Ordered recording hooks for the OOM and tracking suites (events.h). */
#include "events.h"

#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 8192
#define LOG_RING 4096
#define LOG_LEN 480

static tu_cond g_c;
static bool g_init;
static ev g_ev[MAX_EVENTS];
static int g_nev;
static struct { int level; char msg[LOG_LEN]; } g_log[LOG_RING];
static long g_nlog;

static void ensure_init(void)
{
    if (!g_init) {
        tu_cond_init(&g_c);
        g_init = true;
    }
}

static void record(const ev *e)
{
    tu_cond_lock(&g_c);
    if (g_nev < MAX_EVENTS) g_ev[g_nev++] = *e;
    tu_cond_unlock(&g_c);
    tu_cond_broadcast(&g_c);
}

static void on_oom(void *ctx, const char *id, unsigned long long kills)
{
    (void)ctx;
    ev e = { .kind = EV_OOM, .oom_kills = kills };
    snprintf(e.id, sizeof e.id, "%s", id ? id : "(null)");
    /* A hook may call the API: the state as the engine would see it now. */
    e.state = (int)supervisor_container_state(id);
    record(&e);
}

static void on_stopped(void *ctx, const char *id, int pid, int code)
{
    (void)ctx;
    ev e = { .kind = EV_STOPPED, .pid = pid, .code = code };
    snprintf(e.id, sizeof e.id, "%s", id ? id : "(null)");
    record(&e);
}

static void on_gc_done(void *ctx, const char *id)
{
    (void)ctx;
    ev e = { .kind = EV_GC_DONE };
    snprintf(e.id, sizeof e.id, "%s", id ? id : "(null)");
    record(&e);
}

static void on_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    tu_cond_lock(&g_c);
    int slot = (int)(g_nlog % LOG_RING);
    g_log[slot].level = level;
    snprintf(g_log[slot].msg, LOG_LEN, "%s", msg ? msg : "");
    g_nlog++;
    tu_cond_unlock(&g_c);
    /* Warnings and errors in the ctest log; the flood cases stay quiet. */
    if (level <= 4 && g_nlog <= 200) tu_log("lib log %d: %s", level, msg ? msg : "(null)");
}

void ev_fill_ops(supervisor_engine_ops_t *ops, bool with_oom)
{
    ensure_init();
    memset(ops, 0, sizeof *ops);
    ops->struct_size = sizeof *ops;
    ops->container_stopped = on_stopped;
    ops->gc_done = on_gc_done;
    ops->log = on_log;
    ops->container_oom = with_oom ? on_oom : NULL;
}

void ev_install(bool with_oom)
{
    supervisor_engine_ops_t ops;
    ev_fill_ops(&ops, with_oom);
    ASSERT_OK(supervisor_set_engine_ops(&ops));
}

bool ev_get(int i, ev *out)
{
    ensure_init();
    tu_cond_lock(&g_c);
    bool ok = i >= 0 && i < g_nev;
    if (ok) *out = g_ev[i];
    tu_cond_unlock(&g_c);
    return ok;
}

int ev_total(void)
{
    ensure_init();
    tu_cond_lock(&g_c);
    int n = g_nev;
    tu_cond_unlock(&g_c);
    return n;
}

/* Callers hold the lock. */
static int count_locked(ev_kind kind, const char *id)
{
    int n = 0;
    for (int i = 0; i < g_nev; i++)
        if (g_ev[i].kind == kind && (id == NULL || strcmp(g_ev[i].id, id) == 0)) n++;
    return n;
}

int ev_count(ev_kind kind, const char *id)
{
    ensure_init();
    tu_cond_lock(&g_c);
    int n = count_locked(kind, id);
    tu_cond_unlock(&g_c);
    return n;
}

int ev_count_kind(ev_kind kind) { return ev_count(kind, NULL); }

static int find(ev_kind kind, const char *id, bool last)
{
    ensure_init();
    tu_cond_lock(&g_c);
    int at = -1;
    for (int i = 0; i < g_nev; i++) {
        if (g_ev[i].kind != kind || strcmp(g_ev[i].id, id) != 0) continue;
        at = i;
        if (!last) break;
    }
    tu_cond_unlock(&g_c);
    return at;
}

int ev_first(ev_kind kind, const char *id) { return find(kind, id, false); }
int ev_last(ev_kind kind, const char *id) { return find(kind, id, true); }

typedef struct { ev_kind kind; const char *id; int n; unsigned long long kills; } wait_arg;

static bool have_n(void *p)
{
    wait_arg *a = p;
    return count_locked(a->kind, a->id) >= a->n;
}

bool ev_wait(ev_kind kind, const char *id, int n, int timeout_ms)
{
    ensure_init();
    wait_arg a = { kind, id, n, 0 };
    return tu_cond_wait_until(&g_c, have_n, &a, timeout_ms);
}

bool ev_wait_kind(ev_kind kind, int n, int timeout_ms) { return ev_wait(kind, NULL, n, timeout_ms); }

static bool have_kills(void *p)
{
    wait_arg *a = p;
    for (int i = g_nev - 1; i >= 0; i--)
        if (g_ev[i].kind == EV_OOM && strcmp(g_ev[i].id, a->id) == 0) return g_ev[i].oom_kills >= a->kills;
    return false;
}

bool ev_wait_oom_kills(const char *id, unsigned long long kills, int timeout_ms)
{
    ensure_init();
    wait_arg a = { EV_OOM, id, 0, kills };
    return tu_cond_wait_until(&g_c, have_kills, &a, timeout_ms);
}

int ev_log_matches(int level, const char *needle, const char *needle2, const char *without)
{
    ensure_init();
    tu_cond_lock(&g_c);
    int n = 0;
    long first = g_nlog > LOG_RING ? g_nlog - LOG_RING : 0;
    for (long i = first; i < g_nlog; i++) {
        const char *m = g_log[i % LOG_RING].msg;
        if (g_log[i % LOG_RING].level > level) continue;
        if (needle && !strstr(m, needle)) continue;
        if (needle2 && !strstr(m, needle2)) continue;
        if (without && strstr(m, without)) continue;
        n++;
    }
    tu_cond_unlock(&g_c);
    return n;
}

long ev_log_total(void)
{
    ensure_init();
    tu_cond_lock(&g_c);
    long n = g_nlog;
    tu_cond_unlock(&g_c);
    return n;
}

void ev_dump(void)
{
    static const char *const names[] = { "container_oom", "container_stopped", "gc_done" };
    ev e;
    for (int i = 0; ev_get(i, &e) && i < 400; i++) {
        if (e.kind == EV_OOM)
            tu_log("event %d: %s(%s, %llu) state %d", i, names[e.kind], e.id, e.oom_kills, e.state);
        else if (e.kind == EV_STOPPED)
            tu_log("event %d: %s(%s, pid %d, code %d)", i, names[e.kind], e.id, e.pid, e.code);
        else
            tu_log("event %d: %s(%s)", i, names[e.kind], e.id);
    }
}

long long status_oom_kills(const char *id)
{
    char *text = supervisor_status_json();
    if (text == NULL) return -3;
    yajl_val v = tu_json_parse(text);
    free(text);
    long long r = -2;
    yajl_val mons = v ? tu_json_get(v, "monitors") : NULL;
    for (size_t i = 0; mons && YAJL_IS_ARRAY(mons) && i < mons->u.array.len; i++) {
        yajl_val m = mons->u.array.values[i];
        const char *mid = tu_json_str(m, "id");
        if (mid == NULL || strcmp(mid, id) != 0) continue;
        yajl_val k = tu_json_get(m, "oom_kills");
        r = k && YAJL_IS_INTEGER(k) ? YAJL_GET_INTEGER(k) : -1;
        break;
    }
    if (v) yajl_tree_free(v);
    return r;
}
