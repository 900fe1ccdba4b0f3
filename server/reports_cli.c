/*
 * reports_cli.c - `coachbox import` and `coachbox export` (reports.h):
 * reference data imports (IMD deciles, population) and the quarterly return
 * and full extract, run against a data directory without a server.
 */
#include "coachbox/imd.h"
#include "coachbox/reports.h"
#include "coachbox/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
    fputs("usage: coachbox import imd --data DIR FILE.csv\n"
          "       coachbox import population --data DIR FILE.csv\n"
          "       coachbox export quarterly --data DIR --quarter YYYYQn [--team TEAM] "
          "[--out FILE]\n"
          "       coachbox export extract --data DIR --out DIR\n",
          stderr);
}

/* Options of one subcommand: value flags and at most one positional argument. */
struct opts {
    const char *data, *quarter, *team, *out, *file;
};

/* Parse argv (after the subcommand); allowed lists the value flags it takes. */
static int parse(int argc, char **argv, const char *allowed, int positional, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < argc; i++) {
        const char **dst = NULL;
        if (strcmp(argv[i], "--data") == 0) {
            dst = &o->data;
        } else if (strcmp(argv[i], "--quarter") == 0) {
            dst = &o->quarter;
        } else if (strcmp(argv[i], "--team") == 0) {
            dst = &o->team;
        } else if (strcmp(argv[i], "--out") == 0) {
            dst = &o->out;
        } else if (argv[i][0] != '-' && positional && !o->file) {
            o->file = argv[i];
            continue;
        }
        if (!dst || !strstr(allowed, argv[i])) {
            fprintf(stderr, "coachbox: unexpected argument '%s'\n", argv[i]);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "coachbox: %s needs a value\n", argv[i]);
            return -1;
        }
        *dst = argv[++i];
    }
    if (!o->data) {
        fputs("coachbox: --data DIR is required\n", stderr);
        return -1;
    }
    if (positional && !o->file) {
        fputs("coachbox: the CSV file to import is required\n", stderr);
        return -1;
    }
    return 0;
}

static int open_conn(const char *dir, struct cb_store **s, struct cb_conn **c)
{
    int rc = cb_store_open_existing(dir, s);
    if (rc) {
        return rc;
    }
    rc = cb_store_conn(*s, c);
    if (rc) {
        fprintf(stderr, "coachbox: %s\n", cb_strerror(rc));
        cb_store_close(*s);
    }
    return rc;
}

static int cmd_import(int argc, char **argv)
{
    if (argc < 1 || (strcmp(argv[0], "imd") != 0 && strcmp(argv[0], "population") != 0)) {
        usage();
        return 2;
    }
    struct opts o;
    if (parse(argc - 1, argv + 1, "--data", 1, &o)) {
        usage();
        return 2;
    }
    struct cb_store *s;
    struct cb_conn *c;
    if (open_conn(o.data, &s, &c)) {
        return 1;
    }
    struct cb_import_error err;
    long rows = 0;
    int imd = strcmp(argv[0], "imd") == 0;
    int rc =
        imd ? cb_imd_import(c, o.file, &rows, &err) : cb_population_import(c, o.file, &rows, &err);
    if (rc == CB_EPARSE || rc == CB_EINVAL || (rc == CB_EIO && err.message[0])) {
        if (err.line > 0 && err.column > 0) {
            fprintf(stderr, "coachbox: %s line %ld, column %d%s%s%s: %s\n", o.file, err.line,
                    err.column, err.field[0] ? " (" : "", err.field, err.field[0] ? ")" : "",
                    err.message);
        } else if (err.line > 0) {
            fprintf(stderr, "coachbox: %s line %ld: %s\n", o.file, err.line, err.message);
        } else {
            fprintf(stderr, "coachbox: %s\n", err.message);
        }
        fputs("coachbox: nothing was imported\n", stderr);
    } else if (rc) {
        fprintf(stderr, "coachbox: import failed: %s; nothing was imported\n", cb_strerror(rc));
    } else {
        printf("imported %ld %s\n", rows, imd ? "postcodes" : "population rows");
    }
    cb_store_close(s);
    return rc ? 1 : 0;
}

/*
 * Write n bytes to path via the temporary file path.tmp (mode 0600, created
 * by cb_export_open_tmp: a link planted there is never followed), renamed
 * into place.  CB_EIO after a message on stderr.
 */
static int write_file(const char *path, const char *data, size_t n)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        fputs("coachbox: the output path is too long\n", stderr);
        return CB_EIO;
    }
    int fd;
    if (cb_export_open_tmp(tmp, &fd) != CB_OK) {
        fprintf(stderr, "coachbox: cannot create %s: %s\n", tmp, strerror(errno));
        return CB_EIO;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, data + done, n - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            break;
        }
        done += (size_t)w;
    }
    int ok = done == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "coachbox: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return CB_EIO;
    }
    return CB_OK;
}

static int cmd_export(int argc, char **argv)
{
    int quarterly = argc >= 1 && strcmp(argv[0], "quarterly") == 0;
    int extract = argc >= 1 && strcmp(argv[0], "extract") == 0;
    struct opts o;
    if ((!quarterly && !extract) ||
        parse(argc - 1, argv + 1, quarterly ? "--data --quarter --team --out" : "--data --out", 0,
              &o)) {
        usage();
        return 2;
    }
    if (quarterly && !o.quarter) {
        fputs("coachbox: --quarter YYYYQn is required\n", stderr);
        return 2;
    }
    if (extract && !o.out) {
        fputs("coachbox: --out DIR is required\n", stderr);
        return 2;
    }
    struct cb_store *s;
    struct cb_conn *c;
    if (open_conn(o.data, &s, &c)) {
        return 1;
    }
    struct cb_field_error fe = {"", ""};
    int status = 0;
    if (quarterly) {
        struct cb_buf b;
        cb_buf_init(&b, 16 * 1024 * 1024);
        int rc = cb_report_quarterly_csv(c, NULL, o.quarter, o.team, &b, &fe);
        if (rc) {
            fprintf(stderr, "coachbox: %s%s%s\n", fe.field[0] ? fe.field : "",
                    fe.field[0] ? " " : "", fe.message[0] ? fe.message : cb_strerror(rc));
            status = rc == CB_EINVAL ? 2 : 1;
        } else if (o.out) {
            status = write_file(o.out, b.data, b.len) ? 1 : 0;
        } else if (fwrite(cb_buf_str(&b), 1, b.len, stdout) != b.len || fflush(stdout) != 0) {
            status = 1;
        }
        cb_buf_free(&b);
    } else {
        size_t files = 0;
        int rc = cb_report_extract(c, o.out, &files, &fe);
        if (rc) {
            fprintf(stderr, "coachbox: extract failed: %s\n",
                    fe.message[0] ? fe.message : cb_strerror(rc));
            status = 1;
        } else {
            printf("wrote %zu tables and manifest.csv to %s\n", files, o.out);
        }
    }
    cb_store_close(s);
    return status;
}

int cb_reports_cli(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        usage();
        return 0;
    }
    if (argc >= 1 && strcmp(argv[0], "import") == 0) {
        return cmd_import(argc - 1, argv + 1);
    }
    if (argc >= 1 && strcmp(argv[0], "export") == 0) {
        return cmd_export(argc - 1, argv + 1);
    }
    usage();
    return 2;
}
