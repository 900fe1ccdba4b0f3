/*
 * timeutil.h - UTC time on the wire: ISO 8601 with milliseconds
 * ("2026-11-26T12:39:46.123Z"), calendar dates ("2026-11-26").
 * All functions are pure and thread-safe.
 */
#ifndef COACHBOX_TIMEUTIL_H
#define COACHBOX_TIMEUTIL_H

#include <stdint.h>

#define CB_TIME_STRLEN 25 /* "YYYY-MM-DDTHH:MM:SS.mmmZ" + NUL */
#define CB_DATE_STRLEN 11 /* "YYYY-MM-DD" + NUL */

/* Wall-clock milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t cb_now_ms(void);
/* Monotonic milliseconds (CLOCK_MONOTONIC), for timeouts. */
int64_t cb_mono_ms(void);
/* Format unix_ms as ISO 8601 UTC with milliseconds. */
void cb_time_format(int64_t unix_ms, char out[CB_TIME_STRLEN]);
/*
 * Parse an ISO 8601 timestamp "YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM)".
 * A zone is required.  Returns CB_OK and *unix_ms, or CB_EPARSE.
 */
int cb_time_parse(const char *s, int64_t *unix_ms);
/* Parse a strict calendar date "YYYY-MM-DD" (valid day of month); CB_EPARSE. */
int cb_date_parse(const char *s, int *y, int *m, int *d);
/* Days since 1970-01-01 of a valid civil date (proleptic Gregorian). */
int64_t cb_days_from_civil(int y, int m, int d);
/* Today's UTC date as "YYYY-MM-DD". */
void cb_today(char out[CB_DATE_STRLEN]);

#endif
