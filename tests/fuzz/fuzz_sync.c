/*
 * fuzz_sync.c - sync batch decoding on both sides.
 *
 * Input: a selector byte, then a JSON body.
 *   selector bit 0 = 0: central's push path (sync/hub.c).  The body is a
 *     POST /sync/v1/push body from an authenticated site serving team
 *     "prestwich": parsed strictly, keys checked, then every op runs through
 *     the hub's own per-op check and apply (apply_op: table, columns, row id,
 *     scope, conflicts, capture) in one transaction, exactly as sync_push
 *     loops over them, and is rolled back afterwards.
 *   selector bit 0 = 1: the site's pull path (sync/site.c).  The body is a
 *     GET /sync/v1/pull page from central, checked and applied as pull_all
 *     does after the HTTP call (apply_change per change, cursor, teams, scope
 *     exits, purges), then rolled back.
 *
 * The hub and site functions are static: this file includes their sources so
 * it can call them unchanged (the library copies are not linked).  A small
 * refactor exposing cb_hub_apply_ops() / cb_sync_apply_page() would let the
 * harness call them directly (docs/SECURITY.md, section 2).
 *
 * Invariants beyond memory safety: a push whose ops are all well-formed
 * objects with consecutive op_ids never fails as a whole - a bad op is
 * reported in "rejected" and consumed, as docs/SYNC.md promises, so one bad
 * write cannot block a site's queue; and a pushed op outside the site's teams
 * never changes a row of another team.
 */
#include "../../sync/hub.c"
#include "../../sync/site.c"

#include "coachbox/buf.h"
#include "fuzz_common.h"

static struct cb_store *central, *field;
static struct cb_site site;

static void seed_apply(struct cb_conn *c, const struct cb_table *t, const char *id,
                       const char *json)
{
    json_error_t e;
    json_t *f = json_loads(json, 0, &e);
    if (!f) {
        fprintf(stderr, "fuzz: bad seed JSON %s: %s\n", json, e.text);
        abort();
    }
    int rc = cb_record_apply(c, t, id, f, "2026-01-01T00:00:00.000Z");
    if (rc) {
        fprintf(stderr, "fuzz: seeding %s failed: %s\n", t->name, cb_strerror(rc));
        abort();
    }
    json_decref(f);
}

static void seed_rows(struct cb_conn *c)
{
    seed_apply(c, &cb_table_participants, FZ_P_A,
               "{\"given_name\":\"Ada\",\"family_name\":\"Lovelace\",\"date_of_birth\":"
               "\"1980-01-02\",\"team\":\"" FZ_TEAM_A "\",\"created_at\":"
               "\"2026-01-01T00:00:00.000Z\",\"deleted\":0}");
    seed_apply(c, &cb_table_participants, FZ_P_B,
               "{\"given_name\":\"Bea\",\"family_name\":\"Other\",\"date_of_birth\":"
               "\"1970-03-04\",\"team\":\"" FZ_TEAM_B "\",\"created_at\":"
               "\"2026-01-01T00:00:00.000Z\",\"deleted\":0}");
    seed_apply(c, &cb_table_encounters, FZ_ENC_A,
               "{\"participant_id\":\"" FZ_P_A "\",\"type\":\"drop_in\",\"occurred_at\":"
               "\"2026-01-01T10:00:00.000Z\",\"team\":\"" FZ_TEAM_A "\",\"notes\":\"n\","
               "\"created_at\":\"2026-01-01T00:00:00.000Z\",\"deleted\":0}");
}

static void setup(void)
{
    if (central) {
        return;
    }
    if (cb_rng_init()) {
        abort();
    }
    /* Central: bootstrapped as `coachbox central` does, with rows of two teams. */
    central = fz_store_open("central");
    if (cb_store_set_role(central, "central")) {
        abort();
    }
    struct cb_conn *c = fz_conn(central);
    if (cb_capture_bootstrap_central(c)) {
        abort();
    }
    fz_exec(c, "PRAGMA foreign_keys=OFF");
    if (cb_conn_begin(c)) {
        abort();
    }
    seed_rows(c);
    json_t *row = NULL, *w = json_string("Ada"), *l = json_string("Adah");
    if (cb_record_get_synced(c, &cb_table_participants, FZ_P_A, &row) ||
        record_conflict(c, "participants", FZ_P_A, "given_name", 0, w, 1, FZ_SITE, l, 2,
                        CB_SITE_CENTRAL, row)) {
        abort();
    }
    json_decref(row);
    json_decref(w);
    json_decref(l);
    if (cb_conn_commit(c)) {
        abort();
    }
    fz_exec(c, "PRAGMA foreign_keys=ON");
    snprintf(site.id, sizeof(site.id), "%s", FZ_SITE);
    snprintf(site.name, sizeof(site.name), "fuzz site");
    site.teams = json_pack("[s]", FZ_TEAM_A);
    site.last_op_id = 0;

    /* Field: enrolled for team A, with a local edit of FZ_P_A still waiting. */
    field = fz_store_open("field");
    c = fz_conn(field);
    fz_exec(c, "PRAGMA foreign_keys=OFF");
    if (cb_conn_begin(c)) {
        abort();
    }
    seed_rows(c);
    fz_exec(c, "INSERT INTO outbox(tbl, row_id, fields, hlc, base_seq, participant_id, created_at) "
               "VALUES ('participants', '" FZ_P_A "', '{\"given_name\":\"Adah\"}', 1, 0, '" FZ_P_A
               "', '2026-01-01T00:00:00.000Z')");
    if (cb_setting_set(c, "site_teams", "[\"" FZ_TEAM_A "\"]") || cb_conn_commit(c)) {
        abort();
    }
    fz_exec(c, "PRAGMA foreign_keys=ON");
}

/*
 * Everything about team B's participant: its row, and how many records of
 * each table point at it.  A push from team A's site must leave it alone.
 */
static char *team_b_fingerprint(struct cb_conn *c)
{
    char sql[300];
    struct cb_buf b;
    cb_buf_init(&b, 1 << 16);
    for (size_t i = 0; i < cb_table_count(); i++) {
        const struct cb_table *t = cb_table_at(i);
        int is_p = t == &cb_table_participants;
        if (!is_p && !cb_table_field(t, "participant_id")) {
            continue;
        }
        snprintf(sql, sizeof(sql),
                 is_p ? "SELECT given_name || family_name || team || deleted || updated_at "
                        "FROM %s WHERE id = ?1"
                      : "SELECT count(*) FROM %s WHERE participant_id = ?1",
                 t->name);
        sqlite3_stmt *st;
        FUZZ_CHECK(cb_conn_prepare(c, sql, &st) == CB_OK, "prepare %s", sql);
        sqlite3_bind_text(st, 1, FZ_P_B, -1, SQLITE_STATIC);
        const char *v =
            sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "none";
        cb_buf_addf(&b, "%s=%s;", t->name, v ? v : "null");
        cb_stmt_done(st);
    }
    char *s = strdup(cb_buf_str(&b));
    cb_buf_free(&b);
    return s;
}

static void fuzz_push(const char *body, size_t len)
{
    static const char *const keys[] = {"ops", "pending", "oldest_pending_at", NULL};
    struct cb_field_error fe = {"", ""};
    json_t *req = NULL;
    if (cb_json_parse_object(body, len, &req, &fe)) {
        return;
    }
    json_t *ops = json_object_get(req, "ops");
    if (cb_json_only_keys(req, keys, &fe) || !json_is_array(ops) ||
        json_array_size(ops) > MAX_OPS) {
        json_decref(req);
        return;
    }
    /* central's push runs on a sync connection: no foreign keys, no triggers
     * (derived rows recomputed per group, below) */
    struct cb_conn *c = NULL;
    FUZZ_CHECK(cb_store_sync_conn(central, &c) == CB_OK, "no sync connection");
    struct push_stats stats = {0, 0, 0, 0, 0};
    json_t *rejected = json_array();
    int64_t last = site.last_op_id;
    int wellformed = 1;
    char *before = team_b_fingerprint(c);
    /* what sync_push takes of the body before the turn: the ops' digests and
     * fields texts (logged as they are for a new row applied as sent) */
    struct push_pre pre;
    push_pre_take(req, &pre);
    struct person_cache *persons = calloc(1, sizeof(*persons)); /* as the turn: NULL is fine */
    int rc = cb_conn_begin(c);
    FUZZ_CHECK(rc == CB_OK, "begin failed");
    size_t i;
    json_t *op;
    /* The loop of sync_push. */
    json_array_foreach(ops, i, op)
    {
        if (rc) {
            break;
        }
        json_int_t id = json_integer_value(json_object_get(op, "op_id"));
        if (!json_is_object(op) || id <= 0) {
            rc = cb_field_fail(&fe, "ops", "change %zu has no op_id", i);
            wellformed = 0;
            break;
        }
        if (id <= last) {
            stats.duplicates++;
            continue;
        }
        if (id != last + 1) {
            break;
        }
        const char *text;
        size_t text_len;
        push_pre_text(&pre, i, &text, &text_len);
        rc = apply_op(c, persons, &site, op, text, text_len,
                      pre.dumped ? json_array_get(pre.dumped, i) : NULL, &stats, rejected);
        if (rc == CB_OK) {
            last = id;
        }
    }
    if (rc == CB_OK) {
        rc = cb_conn_refresh_derived(c); /* what the commit would run */
    }
    FUZZ_CHECK(rc == CB_OK || !wellformed,
               "a well-formed batch failed as a whole (%s): the site's queue would be stuck "
               "behind op %zu; a bad op must be rejected and consumed instead",
               cb_strerror(rc), i);
    char *after = team_b_fingerprint(c);
    FUZZ_CHECK(strcmp(before, after) == 0,
               "a push from team A's site changed team B's participant or attached a record to "
               "it:\n  before %s\n  after  %s",
               before, after);
    free(before);
    free(after);
    cb_conn_rollback(c);
    push_pre_free(&pre);
    free(persons);
    json_decref(rejected);
    json_decref(req);
}

static void fuzz_pull(const char *body, size_t len)
{
    json_t *page = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!page) {
        return;
    }
    struct cb_conn *c = NULL; /* as pull_all: the site's sync connection */
    if (cb_store_sync_conn(field, &c) != CB_OK) {
        json_decref(page);
        return;
    }
    int64_t cursor = 0;
    /* What pull_all does with a 200 page. */
    json_t *changes = json_object_get(page, "changes");
    json_int_t next = json_integer_value(json_object_get(page, "next"));
    if (!json_is_array(changes) || next < cursor) {
        json_decref(page);
        return;
    }
    json_t *teams = json_object_get(page, "teams");
    if (!json_is_array(teams)) {
        char teams_text[4096];
        setting(c, "site_teams", teams_text, sizeof(teams_text));
        teams = json_loads(teams_text, 0, NULL);
    } else {
        json_incref(teams);
    }
    json_t *exits = json_array();
    struct page_apply pa;
    memset(&pa, 0, sizeof(pa));
    int rc = cb_conn_begin(c);
    FUZZ_CHECK(rc == CB_OK, "begin failed");
    size_t i;
    json_t *ch;
    json_array_foreach(changes, i, ch)
    {
        if (rc == CB_OK) {
            rc = apply_change(c, ch, NULL, teams, exits, &pa);
        }
    }
    if (rc == CB_OK) {
        rc = set_int(c, "sync_cursor", next);
    }
    if (rc == CB_OK) {
        char *tt = cb_json_dump(teams);
        rc = tt ? cb_setting_set(c, "site_teams", tt) : CB_ENOMEM;
        free(tt);
    }
    json_array_foreach(exits, i, ch)
    {
        sqlite3_stmt *st;
        if (rc == CB_OK) {
            rc = cb_conn_prepare(c,
                                 "INSERT OR IGNORE INTO scope_exits(participant_id, since) "
                                 "VALUES (?1, '2026-01-01T00:00:00.000Z')",
                                 &st);
        }
        if (rc == CB_OK) {
            sqlite3_bind_text(st, 1, json_string_value(ch), -1, SQLITE_TRANSIENT);
            rc = cb_store_rc(sqlite3_step(st));
            cb_stmt_done(st);
        }
    }
    if (rc == CB_OK) {
        rc = process_scope_exits(c);
    }
    if (rc == CB_OK) {
        rc = cb_conn_refresh_derived(c); /* what the page's commit would run */
    }
    cb_conn_rollback(c);
    json_decref(exits);
    json_decref(teams);
    json_decref(page);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    setup();
    if (data[0] & 1u) {
        fuzz_pull((const char *)data + 1, size - 1);
    } else {
        fuzz_push((const char *)data + 1, size - 1);
    }
    return 0;
}
