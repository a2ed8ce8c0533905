/*
 * www_assets: the web page's files (the .html, .js and .css files of www/)
 * embedded in vecsnapd.  The table is generated at build time by
 * www/embed.sh into www_assets.c (in the build directory); api_www.c serves
 * it.  Each data array holds `len` bytes followed by a NUL that `len` does
 * not count.
 */
#ifndef VS_WWW_ASSETS_H
#define VS_WWW_ASSETS_H

#include <stddef.h>

typedef struct vs_www_asset {
    const char *name;         /* "app.js"; NULL ends the table */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} vs_www_asset;

/* Sorted by name (C locale), ended by an entry whose name is NULL. */
extern const vs_www_asset vs_www_assets[];

#endif
