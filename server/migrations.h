/* migrations.h - private to store.c: the numbered schema migrations. */
#ifndef COACHBOX_MIGRATIONS_H
#define COACHBOX_MIGRATIONS_H

#include <stddef.h>

/* cb_migrations[i] takes a database from user_version i to i + 1. */
extern const char *const cb_migrations[];
extern const size_t cb_migrations_count;

/* Migration 11's triggers on measures as stored in sqlite_master.sql (NULL-ended),
 * and the refresh each runs for a group (?1 instrument, ?2 participant). */
extern const char *const cb_migrations_pb_triggers[];
extern const char cb_migrations_pb_refresh[];

#endif
