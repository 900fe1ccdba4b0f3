/*
 * imd.h - reference data for reports: the Index of Multiple Deprivation
 * decile of each postcode (table imd) and population denominators (table
 * population), each replaced whole from a CSV file; plus the streaming
 * RFC 4180 reader both imports use.  docs/REPORTS.md lists the accepted
 * headers.
 *
 * Imports are all-or-nothing: the file is read and checked inside one
 * BEGIN IMMEDIATE transaction that first empties the table; any malformed
 * line rolls everything back, leaving the previous content untouched, and
 * reports the line, the column and what is wrong.  One audit event records
 * a successful import (file name and row count only).
 */
#ifndef COACHBOX_IMD_H
#define COACHBOX_IMD_H

#include <stddef.h>
#include <stdio.h>

#include "coachbox/err.h"

struct cb_conn;

/* Where an import failed.  line/column are 1-based; 0 when not about a cell. */
struct cb_import_error {
    long line;
    int column;
    char field[96];    /* the column's header name, or "" */
    char message[256]; /* for a person */
};

/* A streaming CSV reader (RFC 4180: quoted fields, "" inside quotes, CRLF or LF). */
#define CB_CSV_MAX_FIELDS 256
#define CB_CSV_MAX_RECORD (64 * 1024)

struct cb_csv {
    FILE *f;
    long line;      /* line number where the current record started */
    long next_line; /* line number of the next unread character */
    size_t nfields; /* fields of the current record */
    char *fields[CB_CSV_MAX_FIELDS];
    char rec[CB_CSV_MAX_RECORD + 1]; /* field bytes, NUL-separated */
    int started;                     /* a UTF-8 byte order mark at the start is skipped */
};

/* Start reading f (not closed by the reader). */
void cb_csv_init(struct cb_csv *r, FILE *f);
/*
 * Read the next record into r->fields/r->nfields.  Returns 1 for a record,
 * 0 at end of file, or CB_EPARSE with err filled (line, column, message)
 * for a blank line, a stray or unterminated quote, too many fields, an
 * over-long record, a NUL byte or invalid UTF-8.
 */
int cb_csv_next(struct cb_csv *r, struct cb_import_error *err);

/*
 * Replace table imd with the CSV at path: a header naming one postcode
 * column and one decile column (other columns ignored), then one row per
 * postcode; postcodes canonicalised (validate.h), deciles 1..10, each
 * postcode once.  *rows gets the number imported.  CB_EINVAL/CB_EPARSE
 * with err naming line and column; CB_EIO if the file cannot be read.
 */
int cb_imd_import(struct cb_conn *c, const char *path, long *rows, struct cb_import_error *err);

/*
 * Replace table population with the CSV at path: header exactly
 * split,group,population; split one of the report splits, group a key of
 * that split, population a whole number 0..1,000,000,000; each (split,
 * group) once.  Errors as cb_imd_import.
 */
int cb_population_import(struct cb_conn *c, const char *path, long *rows,
                         struct cb_import_error *err);

#endif
