/*
 * Engine hooks for the OOM and tracking suites: every container_oom,
 * container_stopped and gc_done is recorded in one ordered log (so a test can
 * tell which came first), with the library's state of the id at the time of
 * a container_oom; log lines are kept (bounded ring) for message checks.
 */
#ifndef LIBSUPERVISOR_OOM_EVENTS_H
#define LIBSUPERVISOR_OOM_EVENTS_H

#include <stdbool.h>

#include "testutil.h"

typedef enum { EV_OOM, EV_STOPPED, EV_GC_DONE } ev_kind;

typedef struct ev {
    ev_kind kind;
    char id[96];
    unsigned long long oom_kills; /* EV_OOM */
    int state;                    /* EV_OOM: supervisor_container_state(id) inside the hook */
    int pid, code;                /* EV_STOPPED */
} ev;

/* Installs the recording hooks: with_oom false leaves container_oom NULL. */
void ev_install(bool with_oom);
/* The same hooks into *ops (zeroed first, struct_size = sizeof): for cases
 * that shape the struct themselves. */
void ev_fill_ops(supervisor_engine_ops_t *ops, bool with_oom);

/* The i-th recorded event (0-based, in arrival order); false past the end. */
bool ev_get(int i, ev *out);
int ev_total(void);
/* Events of kind for id. */
int ev_count(ev_kind kind, const char *id);
/* Index of the first / last event of kind for id, -1 when none. */
int ev_first(ev_kind kind, const char *id);
int ev_last(ev_kind kind, const char *id);
/* Waits (bounded) until id has at least n events of kind. */
bool ev_wait(ev_kind kind, const char *id, int n, int timeout_ms);
/* Waits until the last container_oom of id reports at least kills. */
bool ev_wait_oom_kills(const char *id, unsigned long long kills, int timeout_ms);
/* Total events of kind (all ids). */
int ev_count_kind(ev_kind kind);
bool ev_wait_kind(ev_kind kind, int n, int timeout_ms);

/* Log lines seen at `level` or more severe (syslog numbers: 7 = all) that
 * contain every non-NULL needle (and not `without`, when non-NULL). */
int ev_log_matches(int level, const char *needle, const char *needle2, const char *without);
/* Number of log lines received (every level). */
long ev_log_total(void);
/* Prints the recorded events on stderr (post-mortem of a failed check). */
void ev_dump(void);

/* monitors[].oom_kills of id in supervisor_status_json(): the value, -1
 * when the monitor is listed without the field, -2 when id is not listed. */
long long status_oom_kills(const char *id);

#endif
