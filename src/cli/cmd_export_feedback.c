/*
 * cmd_export_feedback.c - `catdog export-feedback`: copies the photos users
 * corrected on the history page ("actually a cat / dog") into OUT/cats and
 * OUT/dogs, ready for `catdog train`.  The newest answer per photo wins; a
 * photo moved from one class to the other is removed from the old folder.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "web/history.h"
#include "web/store.h"

#define MAX_PHOTO (1024u * 1024 * 1024)

typedef struct export_ctx {
    store *photos;
    store *out;
    int n[2];
    int missing;
    int not_kept; /* rows recorded under --no-store: no photo to export */
    int failed;
} export_ctx;

static int export_one(const history_rec *r, void *arg)
{
    export_ctx *x = arg;
    static const char *const dirs[2] = {"cats", "dogs"};
    int cls = r->feedback ? 1 : 0;
    cd_err err;
    size_t len = 0;
    if (!r->file[0]) {
        /* Recorded by a server under --no-store: the verdict was kept, the photo never was. */
        fprintf(stderr, "catdog export-feedback: skipping %s: no photo was kept (the server ran with --no-store)\n",
                r->name);
        x->not_kept++;
        return 0;
    }
    unsigned char *bytes = store_read(x->photos, r->file, MAX_PHOTO, &len, &err);
    if (!bytes) {
        fprintf(stderr, "catdog export-feedback: skipping %s (%s): %s\n", r->file, r->name, err.msg);
        x->missing++;
        return 0;
    }
    if (store_put_named(x->out, dirs[cls], r->file, bytes, len, &err) != 0 ||
        store_remove_named(x->out, dirs[1 - cls], r->file, &err) != 0) {
        fprintf(stderr, "catdog export-feedback: %s\n", err.msg);
        x->failed++;
    } else {
        x->n[cls]++;
    }
    free(bytes);
    return 0;
}

int cmd_export_feedback(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},
        {"upload-dir", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = "catdog.db", *out = NULL, *upload = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'o': out = optarg; break;
        case 'u': upload = optarg; break;
        case 'h':
            puts("Usage: catdog export-feedback --db FILE|URL --out DIR [--upload-dir DIR]\n"
                 "(--db: the SQLite file, or the PostgreSQL connection string, `catdog serve` used)\n"
                 "Writes the photos corrected on the history page into DIR/cats and DIR/dogs\n"
                 "(the layout `catdog train` reads).  The photos are found in the upload folder\n"
                 "the server recorded in the database, or in --upload-dir.");
            return 0;
        default: return cli_usage_error("export-feedback", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("export-feedback", "unexpected argument '%s'", argv[optind]);
    if (!out)
        return cli_usage_error("export-feedback", "--out DIR is required");

    /* An SQLite file must exist (opening would create an empty one). */
    FILE *probe = history_target_is_pg(db) ? NULL : fopen(db, "rb");
    if (!history_target_is_pg(db) && !probe)
        return cli_fail("export-feedback: cannot open database %s", db);
    if (probe)
        fclose(probe);
    cd_err err;
    history *h = history_open(db, &err);
    if (!h)
        return cli_fail("export-feedback: %s", err.msg);
    char recorded[4096];
    if (!upload) {
        if (history_get_meta(h, "upload_dir", recorded, sizeof recorded, &err) != 0) {
            history_close(h);
            return cli_fail("export-feedback: %s", err.msg);
        }
        upload = recorded[0] ? recorded : "saveimages";
    }
    export_ctx x;
    memset(&x, 0, sizeof x);
    x.photos = store_new(upload, &err);
    if (!x.photos) {
        history_close(h);
        return cli_fail("export-feedback: %s", err.msg);
    }
    x.out = store_new(out, &err);
    if (!x.out) {
        store_free(x.photos);
        history_close(h);
        return cli_fail("export-feedback: %s", err.msg);
    }
    int rc = history_each_feedback(h, export_one, &x, &err);
    store_free(x.out);
    store_free(x.photos);
    history_close(h);
    if (rc != 0)
        return cli_fail("export-feedback: %s", err.msg);
    printf("exported %d photos to %s: %d in cats/, %d in dogs/", x.n[0] + x.n[1], out, x.n[0], x.n[1]);
    if (x.missing)
        printf("; %d missing from %s", x.missing, upload);
    if (x.not_kept)
        printf("; %d without a photo (--no-store)", x.not_kept);
    printf("\n");
    return x.failed ? 1 : 0;
}
