/* migrations.h - private to store.c: the numbered schema migrations. */
#ifndef COACHBOX_MIGRATIONS_H
#define COACHBOX_MIGRATIONS_H

#include <stddef.h>

/* cb_migrations[i] takes a database from user_version i to i + 1. */
extern const char *const cb_migrations[];
extern const size_t cb_migrations_count;

#endif
