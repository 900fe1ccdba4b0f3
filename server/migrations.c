/*
 * migrations.c - the schema, as numbered migrations (PRAGMA user_version).
 *
 * Never edit a released migration: append a new one.  SQL here stays portable
 * (TEXT ids, ISO 8601 TEXT times, no SQLite-only types) so central can move to
 * PostgreSQL behind store.h.
 */
#include "migrations.h"

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

const char *const cb_migrations[] = {
    /* 1: foundation - teams, venues, users, sessions, participants, encounters, audit */
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE teams(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO teams(id, name, created_at, updated_at) VALUES"
    "  ('prestwich', 'Prestwich', " NOW ", " NOW "),"
    "  ('whitefield', 'Whitefield', " NOW ", " NOW "),"
    "  ('radcliffe', 'Radcliffe', " NOW ", " NOW "),"
    "  ('bury-town', 'Bury town', " NOW ", " NOW "),"
    "  ('ramsbottom-tottington', 'Ramsbottom and Tottington', " NOW ", " NOW ");"
    "CREATE TABLE venues(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    "  team TEXT NOT NULL REFERENCES teams(id), address TEXT, postcode TEXT,"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE users(id TEXT PRIMARY KEY, username TEXT NOT NULL,"
    "  display_name TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('coach','lead','manager','admin')),"
    "  team TEXT REFERENCES teams(id), password_hash TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE UNIQUE INDEX users_username ON users(lower(username));"
    "CREATE TABLE sessions(token_hash TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id), csrf_token TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE participants(id TEXT PRIMARY KEY,"
    "  given_name TEXT NOT NULL, family_name TEXT NOT NULL, date_of_birth TEXT NOT NULL,"
    "  nhs_number TEXT, postcode TEXT, team TEXT NOT NULL REFERENCES teams(id),"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_by TEXT,"
    "  deleted INTEGER NOT NULL DEFAULT 0);"
    /* Name search: range scans on these (team filtered after, see participant.c). */
    "CREATE INDEX participants_family ON participants(lower(family_name), lower(given_name), id);"
    "CREATE INDEX participants_given ON participants(lower(given_name));"
    /* A team's list in name order, read in index order with LIMIT. */
    "CREATE INDEX participants_team ON participants(team, lower(family_name), lower(given_name), id);"
    "CREATE INDEX participants_nhs ON participants(nhs_number);"
    "CREATE INDEX participants_dob ON participants(date_of_birth);"
    "CREATE TABLE encounters(id TEXT PRIMARY KEY,"
    "  participant_id TEXT NOT NULL REFERENCES participants(id),"
    "  type TEXT NOT NULL, occurred_at TEXT NOT NULL, notes TEXT,"
    "  coach TEXT REFERENCES users(id), team TEXT NOT NULL REFERENCES teams(id),"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_by TEXT,"
    "  deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX encounters_participant ON encounters(participant_id, occurred_at);"
    "CREATE TABLE audit_events(seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,"
    "  actor TEXT, action TEXT NOT NULL, entity TEXT, entity_id TEXT, address TEXT,"
    "  site TEXT, outcome TEXT NOT NULL DEFAULT 'ok', detail TEXT);"
    "CREATE INDEX audit_entity ON audit_events(entity, entity_id);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events"
    "  BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events"
    "  BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;",
};

const size_t cb_migrations_count = sizeof(cb_migrations) / sizeof(cb_migrations[0]);
