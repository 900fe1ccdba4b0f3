/* unit_store.c - see unit_store.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_store.h"

#include <assert.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coachbox/err.h"

struct cbu_fixture cbu;

void cbu_rmtree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        return;
    }
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            char sub[1024];
            int n = snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            if (n > 0 && (size_t)n < sizeof(sub)) {
                cbu_rmtree(sub);
            }
        }
        closedir(d);
    }
    rmdir(path);
}

int cbu_dir_setup(void **state)
{
    (void)state;
    assert(cbu.root[0] == '\0' && cbu.store == NULL);
    snprintf(cbu.root, sizeof(cbu.root), "/tmp/cb-ut-XXXXXX");
    if (!mkdtemp(cbu.root)) {
        cbu.root[0] = '\0';
        return -1;
    }
    return 0;
}

int cbu_store_setup(void **state)
{
    char dir[256];
    if (cbu_dir_setup(state) != 0) {
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s/data", cbu.root);
    if (cb_store_open(dir, &cbu.store) != CB_OK || cb_store_conn(cbu.store, &cbu.conn) != CB_OK) {
        cbu_teardown(state);
        return -1;
    }
    return 0;
}

int cbu_teardown(void **state)
{
    (void)state;
    if (cbu.store) {
        cb_store_close(cbu.store);
    }
    if (cbu.root[0]) {
        cbu_rmtree(cbu.root);
    }
    memset(&cbu, 0, sizeof(cbu));
    return 0;
}

long long cbu_count(const char *sql, const char *arg)
{
    sqlite3_stmt *st;
    assert_non_null(cbu.conn);
    assert_int_equal(cb_conn_prepare(cbu.conn, sql, &st), CB_OK);
    if (arg) {
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    cb_stmt_done(st);
    return n;
}
