/*
 * unit_store.h - the fixture the unit tests share: a fresh directory under
 * /tmp for a cmocka group, removed afterwards, and for the tests of modules
 * that need a database a store opened in DIR/data with the main thread's
 * connection.  Pass cbu_store_setup or cbu_dir_setup, and cbu_teardown, to
 * cmocka_run_group_tests; the tests then use the global cbu.
 */
#ifndef COACHBOX_TEST_UNIT_STORE_H
#define COACHBOX_TEST_UNIT_STORE_H

#include "coachbox/store.h"

struct cbu_fixture {
    char root[128];         /* the group's directory, "" outside a group */
    struct cb_store *store; /* open in root/data (cbu_store_setup), else NULL */
    struct cb_conn *conn;   /* the main thread's connection to store, or NULL */
};

/* The fixture of the running group. */
extern struct cbu_fixture cbu;

/* cmocka group setup: make the directory and open the store.  0, or -1 (group fails). */
int cbu_store_setup(void **state);
/* cmocka group setup: make the directory only.  0 or -1. */
int cbu_dir_setup(void **state);
/* cmocka group teardown: close the store if open and remove the directory.  Always 0. */
int cbu_teardown(void **state);
/* Remove path and everything under it (like rm -rf; a missing path is fine). */
void cbu_rmtree(const char *path);
/*
 * Run a count query on cbu.conn with an optional text argument bound to ?1
 * and return the first column of its one row; fails the test on any error.
 */
long long cbu_count(const char *sql, const char *arg);

#endif
