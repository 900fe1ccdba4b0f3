/* migrations.h - the numbered schema migrations (store.c); CB_CANON_TIME also for reports.c. */
#ifndef COACHBOX_MIGRATIONS_H
#define COACHBOX_MIGRATIONS_H

#include <stddef.h>

/* cb_migrations[i] takes a database from user_version i to i + 1. */
extern const char *const cb_migrations[];
extern const size_t cb_migrations_count;

/*
 * SQL: text T is a canonical UTC time (YYYY-MM-DDTHH:MM:SS.mmmZ with a month
 * 01-12 and a day from 01), so substr(T, 1, 7) names the month whose [first
 * instant, next month's first instant) holds T in text order.  Migration 13
 * counts only such contacts in contact_months and indexes the others
 * (encounters_odd_time, WHERE NOT CB_CANON_TIME("occurred_at")); reports.c
 * reads that index with the same text, so SQLite matches the condition.
 */
#define CB_CANON_TIME(T)                                                                           \
    "(length(" T ") = 24 AND " T " GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:"   \
    "[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z' AND substr(" T ", 6, 2) BETWEEN '01' AND '12' AND "   \
    "substr(" T ", 9, 2) >= '01')"

/*
 * The refresh of the measures' derived columns and rows for one (instrument
 * ?1, participant ?2) group: the report values (rv*) of its rows, its rows'
 * baselines (pb*, pbt*), its latest measure (measure_latest) - what the
 * triggers of migrations 12 and 14 keep, as statements run in this order
 * (NULL-ended); and a row of an instrument without pairs has no baselines.  A
 * sync connection, whose triggers are off, runs these once per group it wrote
 * instead (derived.h).  The first statement, the report values, changes only
 * rows of ons4 or bmi or rows that hold report values (derived.c skips it for
 * a group of another instrument none of whose written rows held any).  The
 * last statement runs only when the one before it changed no row (it removes
 * the latest measure of a group that has no live one left).
 */
extern const char *const cb_migrations_measures_refresh[];
/*
 * The contact counts of one (team ?1, period ?2, participant ?3) group move
 * by a known change instead, as the triggers of migrations 13 and 15 move
 * them: the first statement adds ?4 to n and ?5..?10 to the counts per type
 * (drop_in, one_to_one, phone, video, group, dna) of a month ("YYYY-MM") in
 * contact_months, the second removes that row when its n fell to 0 or below;
 * the next two do the same for a year ("YYYY") in contact_years (NULL-ended).
 * The change is what the transaction's writes added (live contacts with a
 * canonical time, new images) less what they removed (old images): derived.c.
 */
extern const char *const cb_migrations_contacts_delta[];

#endif
