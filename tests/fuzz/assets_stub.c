/* assets_stub.c - a tiny stand-in for the generated web bundle (the fuzz build
 * does not run Node); sorted by path like the real table. */
#include <stddef.h>

#include "coachbox/assets.h"

static const unsigned char app_js[] = "console.log(1);\n";
static const unsigned char index_html[] = "<!doctype html><html><body></body></html>\n";
static const unsigned char index_gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00,
                                         0x00, 0x00, 0x03, 0x03, 0x00, 0x00, 0x00,
                                         0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

const struct cb_asset cb_assets[] = {
    {"/assets/app-FUZZ0001.js", "text/javascript; charset=utf-8", "\"fz-app\"", 1, app_js,
     sizeof(app_js) - 1, NULL, 0},
    {"/index.html", "text/html; charset=utf-8", "\"fz-index\"", 0, index_html,
     sizeof(index_html) - 1, index_gz, sizeof(index_gz)},
};
const size_t cb_assets_count = sizeof cb_assets / sizeof cb_assets[0];
