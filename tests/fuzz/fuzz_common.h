/*
 * fuzz_common.h - shared set-up for the libFuzzer harnesses in tests/fuzz/.
 *
 * Harnesses that need a database open a real store (migrations and all) in a
 * fresh directory under $TMPDIR (default /dev/shm when it exists, so fsync is
 * cheap), seed it once, and undo each input's writes by rolling back.  The
 * directory is removed at exit when libFuzzer runs atexit handlers; tools/fuzz.sh
 * also points TMPDIR at a directory of its own and removes that.
 */
#ifndef COACHBOX_FUZZ_COMMON_H
#define COACHBOX_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coachbox/err.h"
#include "coachbox/store.h"

/* Abort (a libFuzzer crash) with a message when an invariant does not hold. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz invariant failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Fixed ids the seed corpora refer to. */
#define FZ_TEAM_A "prestwich"
#define FZ_TEAM_B "radcliffe"
#define FZ_P_A    "01890000-0000-7000-8000-00000000000a" /* participant in team A */
#define FZ_P_B    "01890000-0000-7000-8000-00000000000b" /* participant in team B */
#define FZ_ENC_A  "01890000-0000-7000-8000-0000000000ea" /* encounter of FZ_P_A */
#define FZ_CONF_A "01890000-0000-7000-8000-0000000000ca" /* conflict about FZ_P_A */
#define FZ_PROG_A "01890000-0000-7000-8000-0000000000aa" /* programme of team A */
#define FZ_SITE   "01890000-0000-7000-8000-00000000005e" /* the pushing site (team A) */

static char fz_dirs[4][512];
static int fz_ndirs;

static void fz_cleanup(void)
{
    for (int i = 0; i < fz_ndirs; i++) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fz_dirs[i]);
        if (system(cmd) != 0) {
            fprintf(stderr, "fuzz: could not remove %s\n", fz_dirs[i]);
        }
    }
}

/* Open a fresh store in a new temporary directory; aborts on failure. */
static struct cb_store *fz_store_open(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    struct stat sb;
    if (!tmp || !tmp[0]) {
        tmp = stat("/dev/shm", &sb) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    }
    char *dir = fz_dirs[fz_ndirs];
    snprintf(dir, sizeof(fz_dirs[0]), "%s/cbfuzz-%s-XXXXXX", tmp, tag);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    if (fz_ndirs++ == 0) {
        atexit(fz_cleanup);
    }
    struct cb_store *s = NULL;
    int rc = cb_store_open(dir, &s);
    if (rc) {
        fprintf(stderr, "fuzz: cannot open a store in %s: %s\n", dir, cb_strerror(rc));
        abort();
    }
    return s;
}

static struct cb_conn *fz_conn(struct cb_store *s)
{
    struct cb_conn *c = NULL;
    if (cb_store_conn(s, &c)) {
        abort();
    }
    return c;
}

static void fz_exec(struct cb_conn *c, const char *sql)
{
    int rc = cb_conn_exec(c, sql);
    if (rc) {
        fprintf(stderr, "fuzz: seeding failed (%s): %s\n", cb_strerror(rc), sql);
        abort();
    }
}

#endif
