/*
 * assets.h - the web UI bundle embedded in the binary.
 *
 * The table is generated at build time by web/build.mjs (via tools/build-web.sh)
 * into <build>/generated/assets_data.c.  Every asset is stored twice: raw, and
 * gzip-compressed (sent with Content-Encoding: gzip when the client accepts
 * it).  Paths are absolute URL paths ("/", "/assets/app-3f2a1c.js").  Assets
 * whose file name carries a content hash are marked immutable and may be cached
 * for a year; the rest (index.html, sw.js, manifest) revalidate with the ETag.
 * All memory is static; nothing is freed.
 */
#ifndef COACHBOX_ASSETS_H
#define COACHBOX_ASSETS_H

#include <stddef.h>

struct cb_asset {
    const char *path;         /* URL path, e.g. "/index.html" */
    const char *content_type; /* e.g. "text/html; charset=utf-8" */
    const char *etag;         /* quoted strong ETag, e.g. "\"5d41402abc\"" */
    int immutable;            /* 1: hashed name, Cache-Control immutable */
    const unsigned char *raw;
    size_t raw_len;
    const unsigned char *gz;
    size_t gz_len;
};

extern const struct cb_asset cb_assets[];
extern const size_t cb_assets_count;

/* Return the asset served at path, or NULL.  "/" maps to "/index.html". */
const struct cb_asset *cb_asset_find(const char *path);

#endif
