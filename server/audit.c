/* audit.c - append-only audit events; see audit.h. */
#include "coachbox/audit.h"
#include "coachbox/err.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/validate.h"

#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t site_lock = PTHREAD_MUTEX_INITIALIZER;
static char site_name[CB_UTF8_STRLEN(CB_NAME_CHARS)];

void cb_audit_set_site(const char *site)
{
    pthread_mutex_lock(&site_lock);
    snprintf(site_name, sizeof(site_name), "%s", site ? site : "");
    pthread_mutex_unlock(&site_lock);
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s) {
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    }
}

struct audit_job {
    const struct cb_audit_event *e;
};

/* Insert the event of arg (a struct audit_job) on c: one statement. */
static int audit_insert(struct cb_conn *c, void *arg)
{
    const struct cb_audit_event *e = ((const struct audit_job *)arg)->e;
    char now[CB_TIME_STRLEN], site[CB_UTF8_STRLEN(CB_NAME_CHARS)];
    const char *const text[] = {e->actor,   e->action,  e->entity, e->entity_id,
                                e->address, e->outcome, e->detail, e->participant};
    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        if (text[i] && cb_utf8_length(text[i]) < 0) {
            return CB_EINVAL; /* could never be listed as JSON */
        }
    }
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "INSERT INTO audit_events(at, actor, action, entity, entity_id, "
                             "address, site, outcome, detail, participant_id) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                             &st);
    if (rc) {
        return rc;
    }
    cb_time_format(cb_now_ms(), now);
    pthread_mutex_lock(&site_lock);
    snprintf(site, sizeof(site), "%s", site_name);
    pthread_mutex_unlock(&site_lock);
    sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
    bind_opt(st, 2, e->actor);
    bind_opt(st, 3, e->action);
    bind_opt(st, 4, e->entity);
    bind_opt(st, 5, e->entity_id);
    bind_opt(st, 6, e->address);
    bind_opt(st, 7, site[0] ? site : NULL);
    bind_opt(st, 8, e->outcome ? e->outcome : "ok");
    bind_opt(st, 9, e->detail);
    bind_opt(st, 10, e->participant);
    rc = cb_store_rc(sqlite3_step(st));
    cb_stmt_done(st);
    return rc;
}

/*
 * Outside a transaction (an audited read, a denial) the event is committed by
 * the store's group-commit writer when one runs (cb_conn_write): in FIFO order
 * with the record writes, one fsync per group, and still durable before this
 * returns CB_OK, so a read is answered only once its audit row is committed.
 * Inside the caller's transaction it is part of that transaction.
 */
int cb_audit(struct cb_conn *c, const struct cb_audit_event *e)
{
    struct audit_job j = {e};
    return cb_conn_write(c, audit_insert, &j);
}

int cb_audit_list(struct cb_conn *c, const char *participant_id, json_t **out)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "SELECT a.seq, a.at, a.actor, u.username, a.action, a.address, "
                             "a.site, a.outcome, a.detail, a.entity, a.entity_id "
                             "FROM audit_events a LEFT JOIN users u ON u.id = a.actor "
                             "WHERE a.participant_id = ?1 ORDER BY a.seq LIMIT 10000",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, participant_id, -1, SQLITE_TRANSIENT);
    json_t *items = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(
            items, json_pack("{s:I, s:s, s:s?, s:s?, s:s, s:s?, s:s?, s:s, s:s?, s:s?, s:s?}",
                             "seq", (json_int_t)sqlite3_column_int64(st, 0), "at",
                             (const char *)sqlite3_column_text(st, 1), "actor",
                             (const char *)sqlite3_column_text(st, 2), "username",
                             (const char *)sqlite3_column_text(st, 3), "action",
                             (const char *)sqlite3_column_text(st, 4), "address",
                             (const char *)sqlite3_column_text(st, 5), "site",
                             (const char *)sqlite3_column_text(st, 6), "outcome",
                             (const char *)sqlite3_column_text(st, 7), "detail",
                             (const char *)sqlite3_column_text(st, 8), "entity",
                             (const char *)sqlite3_column_text(st, 9), "entity_id",
                             (const char *)sqlite3_column_text(st, 10)));
    }
    cb_stmt_done(st);
    if (s != SQLITE_DONE) {
        json_decref(items);
        return cb_store_rc(s);
    }
    *out = json_pack("{s:o}", "items", items);
    return CB_OK;
}
