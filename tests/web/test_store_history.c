/*
 * test_store_history.c - the upload folder (content names, dedup, crash-safe
 * writes, strict names) and what only the SQLite history has (migrating old
 * files, refusing foreign ones; the history contract itself is checked on both
 * backends by test_history_backends.c), plus the small pure helpers the pages rely on (file-name
 * sanitising, language negotiation).
 */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "web/history.h"
#include "web/i18n.h"
#include "web/store.h"
#include "web/upload.h"

static char *make_tmpdir(void)
{
    char *dir = strdup("/tmp/catdog-store-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static void test_sha256_known_answer(void **state)
{
    (void)state;
    char hex[STORE_SHA_HEX];
    cd_err err;
    assert_int_equal(store_sha256_hex((const unsigned char *)"abc", 3, hex, &err), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(store_sha256_hex((const unsigned char *)"", 0, hex, &err), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_names_are_strict(void **state)
{
    (void)state;
    assert_true(store_name_valid("ba7816bf.jpg"));
    assert_true(store_name_valid("cat.1.jpg"));
    assert_true(store_name_valid("My_Photo-2.png"));
    const char *bad[] = {"", ".", "..", "../x.jpg", "a/b.jpg", ".hidden", "a b.jpg", "a\\b", "x%2F", "\xd0\xba.jpg",
                         "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(store_name_valid(bad[i]));
    char longname[STORE_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(store_name_valid(longname));
    longname[STORE_NAME_MAX] = '\0';
    assert_true(store_name_valid(longname));
}

static void test_put_stores_once_by_content(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char sub[600];
    snprintf(sub, sizeof sub, "%s/up", dir);
    cd_err err;
    store *s = store_new(sub, &err); /* creates the folder */
    assert_non_null(s);
    const unsigned char photo[] = "\xff\xd8\xff\xe0 not really a jpeg";
    char sha[STORE_SHA_HEX], name[STORE_NAME_MAX + 1];
    assert_int_equal(store_sha256_hex(photo, sizeof photo, sha, &err), 0);
    int existed = -1, e = -1;
    assert_int_equal(store_put(s, photo, sizeof photo, sha, "jpg", name, &existed, &e, &err), 0);
    assert_int_equal(existed, 0);
    char want[80];
    snprintf(want, sizeof want, "%s.jpg", sha);
    assert_string_equal(name, want);
    assert_int_equal(store_put(s, photo, sizeof photo, sha, "jpg", name, &existed, &e, &err), 0);
    assert_int_equal(existed, 1);
    assert_int_equal(count_entries(sub, sha), 1);
    assert_int_equal(count_entries(sub, ".tmp-"), 0);

    size_t len = 0;
    unsigned char *back = store_read(s, name, 1 << 20, &len, &err);
    assert_non_null(back);
    assert_int_equal(len, sizeof photo);
    assert_memory_equal(back, photo, len);
    free(back);
    /* limits and refusals */
    assert_null(store_read(s, name, 3, &len, &err));
    assert_int_equal(err.code, CD_ERR_LIMIT);
    assert_null(store_read(s, "../up/x", 1 << 20, &len, &err));
    assert_int_equal(err.code, CD_ERR_INVALID);
    assert_null(store_read(s, "nothere.jpg", 1 << 20, &len, &err));
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    /* a symlink in the folder is not followed */
    char link[700];
    snprintf(link, sizeof link, "%s/link.jpg", sub);
    assert_int_equal(symlink("/etc/passwd", link), 0);
    assert_null(store_read(s, "link.jpg", 1 << 20, &len, &err));

    /* subfolders (thumbnails, export classes) */
    assert_int_equal(store_put_named(s, "thumbs", "t.jpg", photo, 4, &err), 0);
    back = store_read_sub(s, "thumbs", "t.jpg", 100, &len, &err);
    assert_non_null(back);
    assert_int_equal(len, 4);
    free(back);
    assert_int_equal(store_remove_named(s, "thumbs", "t.jpg", &err), 0);
    assert_int_equal(store_remove_named(s, "thumbs", "t.jpg", &err), 0); /* absent is fine */
    assert_null(store_read_sub(s, "thumbs", "t.jpg", 100, &len, &err));
    store_free(s);
    remove_tree(dir);
    free(dir);
}

static void test_failed_write_leaves_nothing(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    cd_err err;
    store *s = store_new(dir, &err);
    assert_non_null(s);
    /* A file-size limit makes the write fail part way, as a full disk would. */
    struct rlimit old, small = {4096, 4096};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    size_t n = 100000;
    unsigned char *big = calloc(1, n);
    assert_non_null(big);
    char sha[STORE_SHA_HEX], name[STORE_NAME_MAX + 1];
    assert_int_equal(store_sha256_hex(big, n, sha, &err), 0);
    int existed, sys_errno = 0;
    int rc = store_put(s, big, n, sha, "png", name, &existed, &sys_errno, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -1);
    assert_int_equal(sys_errno, EFBIG);
    assert_int_equal(err.code, CD_ERR_IO);
    assert_non_null(strstr(err.msg, "write"));
    assert_int_equal(count_entries(dir, sha), 0);
    assert_int_equal(count_entries(dir, ".tmp-"), 0);
    free(big);

    store_free(s);
    remove_tree(dir);
    free(dir);
}

#define PUTTERS 12

typedef struct putter {
    store *s;
    int t;
    pthread_barrier_t *go;
    unsigned char (*photos)[3000];
    int rc[PUTTERS], existed[PUTTERS];
    char name[PUTTERS][STORE_NAME_MAX + 1];
} putter;

static void *put_all(void *arg)
{
    putter *p = arg;
    pthread_barrier_wait(p->go);
    for (int k = 0; k < PUTTERS; k++) {
        int i = (k + p->t) % PUTTERS; /* each thread its own order: new and repeated photos overlap */
        char sha[STORE_SHA_HEX];
        cd_err err;
        p->rc[i] = store_sha256_hex(p->photos[i], sizeof p->photos[i], sha, &err) != 0
                       ? -1
                       : store_put(p->s, p->photos[i], sizeof p->photos[i], sha, "jpg", p->name[i], &p->existed[i],
                                   NULL, &err);
    }
    return NULL;
}

/* Many uploads at once, new photos and repeats mixed (they share the folder
 * syncs, store.c): every call succeeds with the photo's name, each photo is
 * there once and whole, no temporary is left, and at least one call stored each. */
static void test_concurrent_puts_all_kept_whole(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    cd_err err;
    store *s = store_new(dir, &err);
    assert_non_null(s);
    static unsigned char photos[PUTTERS][3000];
    for (int i = 0; i < PUTTERS; i++)
        for (size_t j = 0; j < sizeof photos[i]; j++)
            photos[i][j] = (unsigned char)(i * 31 + j * 7 + (j >> 8));
    putter *p = calloc(PUTTERS, sizeof *p);
    assert_non_null(p);
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, PUTTERS), 0);
    pthread_t th[PUTTERS];
    for (int t = 0; t < PUTTERS; t++) {
        p[t] = (putter){.s = s, .t = t, .go = &go, .photos = photos};
        assert_int_equal(pthread_create(&th[t], NULL, put_all, &p[t]), 0);
    }
    for (int t = 0; t < PUTTERS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < PUTTERS; i++) {
        int fresh = 0;
        for (int t = 0; t < PUTTERS; t++) {
            assert_int_equal(p[t].rc[i], 0);
            assert_string_equal(p[t].name[i], p[0].name[i]);
            fresh += !p[t].existed[i];
        }
        /* Racing writers of one photo may each install it (identical bytes). */
        assert_true(fresh >= 1);
        size_t len = 0;
        unsigned char *back = store_read(s, p[0].name[i], 1 << 20, &len, &err);
        assert_non_null(back);
        assert_int_equal(len, sizeof photos[i]);
        assert_memory_equal(back, photos[i], len);
        free(back);
    }
    assert_int_equal(count_entries(dir, ".tmp-"), 0);
    free(p);
    store_free(s);
    remove_tree(dir);
    free(dir);
}

static int alive_4242(int pid)
{
    return pid == 4242;
}

/* touch DIR/NAME, its mtime AGE seconds before now. */
static void make_tmp(const char *dir, const char *name, long long now, long long age)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    struct timespec ts[2] = {{.tv_sec = (time_t)(now - age)}, {.tv_sec = (time_t)(now - age)}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Temporaries crashes left behind go; those of writers still alive stay, even
 * when another replica sharing the folder starts (deploy/README.md). */
static void test_stale_temporaries_in_a_shared_folder(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    cd_err err;
    store *s = store_new(dir, &err);
    assert_non_null(s);
    long long now = (long long)time(NULL);
    unsigned here = store_host_tag(), there = here ^ 0x5a5a5a5au;
    char n[200];
    /* This host, writer dead: gone. */
    snprintf(n, sizeof n, ".tmp-31337-%08x-00000000000000aa-a.jpg", here);
    make_tmp(dir, n, now, 1);
    /* This host, writer alive (another replica's write in progress): kept. */
    snprintf(n, sizeof n, ".tmp-4242-%08x-00000000000000bb-b.jpg", here);
    make_tmp(dir, n, now, 1);
    /* This host, our own pid (an earlier process had it): gone. */
    snprintf(n, sizeof n, ".tmp-%d-%08x-00000000000000cc-c.jpg", (int)getpid(), here);
    make_tmp(dir, n, now, 1);
    /* Another host: kept while young, gone once older than STORE_STALE_AGE_S. */
    snprintf(n, sizeof n, ".tmp-31337-%08x-00000000000000dd-d.jpg", there);
    make_tmp(dir, n, now, 10);
    snprintf(n, sizeof n, ".tmp-31338-%08x-00000000000000ee-e.jpg", there);
    make_tmp(dir, n, now, STORE_STALE_AGE_S + 60);
    /* Untagged (an older catdog's): the age rule only. */
    make_tmp(dir, ".tmp-f.jpg-0001", now, 10);
    make_tmp(dir, ".tmp-g.jpg-0002", now, STORE_STALE_AGE_S + 60);
    /* A photo is never touched, whatever its age. */
    make_tmp(dir, "0123.jpg", now, STORE_STALE_AGE_S + 60);
    assert_int_equal(store_remove_stale_at(s, now, alive_4242), 4);
    assert_int_equal(count_entries(dir, ".tmp-"), 3);
    snprintf(n, sizeof n, ".tmp-4242-%08x-00000000000000bb-b.jpg", here);
    assert_int_equal(count_entries(dir, n), 1);
    snprintf(n, sizeof n, ".tmp-31337-%08x-00000000000000dd-d.jpg", there);
    assert_int_equal(count_entries(dir, n), 1);
    assert_int_equal(count_entries(dir, ".tmp-f.jpg"), 1);
    assert_int_equal(count_entries(dir, "0123.jpg"), 1);
    store_free(s);
    remove_tree(dir);
    free(dir);
}

static history_rec rec(const char *sha, const char *name, const char *model, double p_dog)
{
    history_rec r;
    memset(&r, 0, sizeof r);
    r.time = 1700000000.5;
    snprintf(r.sha256, sizeof r.sha256, "%s", sha);
    snprintf(r.file, sizeof r.file, "%s.jpg", sha);
    snprintf(r.name, sizeof r.name, "%s", name);
    r.size = 1234;
    r.width = 200;
    r.height = 150;
    snprintf(r.model, sizeof r.model, "%s", model);
    r.p_dog = p_dog;
    r.label = p_dog >= 0.5;
    r.latency_ms = 2.5;
    return r;
}

/* The rows, paging, feedback and reopening are the history contract, checked
 * on both backends by test_history_backends.c; what only SQLite has stays here. */
static void test_history_refuses_a_file_that_is_not_a_database(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    cd_err err;
    /* a file that is not a database is refused with its name */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/not.db", dir);
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("this is not an SQLite database, just text long enough to have a header.....", f);
    fclose(f);
    assert_null(history_open(bad, &err));
    assert_non_null(strstr(err.msg, "not.db"));
    remove_tree(dir);
    free(dir);
}

/* Runs sql on the file at path with SQLite directly (not through history.c). */
static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The first column of the first row of sql on the file at path. */
static long long sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return v;
}

/* The layout catdog wrote before the schema had a version, written here as it
 * shipped (a frozen copy, so a later change to history.c cannot change what
 * "old" means), with two rows and the upload folder recorded. */
static const char OLD_LAYOUT[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE predictions(id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, sha256 TEXT NOT NULL,"
    " file TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, width INTEGER NOT NULL,"
    " height INTEGER NOT NULL, model TEXT NOT NULL, p_dog REAL NOT NULL,"
    " label TEXT NOT NULL CHECK (label IN ('cat','dog')), latency_ms REAL NOT NULL,"
    " feedback TEXT CHECK (feedback IN ('cat','dog')), feedback_time REAL);"
    "CREATE INDEX predictions_sha256 ON predictions(sha256);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO predictions(time, sha256, file, name, size, width, height, model, p_dog, label, latency_ms,"
    " feedback, feedback_time) VALUES"
    " (1.7e9, 'aaaa', 'aaaa.jpg', 'old cat.jpg', 10, 20, 30, 'binary', 0.25, 'cat', 5.0, 'dog', 1.7e9 + 5),"
    " (1.7e9 + 1, 'bbbb', 'bbbb.png', 'old dog.png', 11, 21, 31, 'transfer', 0.75, 'dog', 6.0, NULL, NULL);"
    "INSERT INTO meta VALUES ('upload_dir', '/srv/old');";

static void test_history_migrates_an_unversioned_file(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/old.db", dir);
    sql_exec(path, OLD_LAYOUT);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), 0);

    cd_err err;
    history *h = history_open(path, &err);
    if (!h)
        fail_msg("the old layout is refused: %s", err.msg);
    long long n = 0;
    assert_int_equal(history_count(h, &n, &err), 0);
    assert_int_equal(n, 2);
    history_rec one;
    assert_int_equal(history_get(h, 1, &one, &err), 0);
    assert_string_equal(one.name, "old cat.jpg");
    assert_int_equal(one.feedback, 1);
    assert_int_equal(history_get(h, 2, &one, &err), 0);
    assert_string_equal(one.model, "transfer");
    assert_int_equal(one.label, 1);
    assert_int_equal(one.feedback, HISTORY_NO_FEEDBACK);
    char meta[64];
    assert_int_equal(history_get_meta(h, "upload_dir", meta, sizeof meta, &err), 0);
    assert_string_equal(meta, "/srv/old");
    /* and it takes new rows after the old ones */
    history_rec c = rec("cccc", "new.jpg", "binary", 0.5);
    assert_int_equal(history_add(h, &c, &err), 0);
    assert_int_equal(c.id, 3);
    history_close(h);

    assert_int_equal(sql_int(path, "PRAGMA user_version"), HISTORY_SCHEMA_VERSION);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM predictions"), 3);
    /* reopening a current file changes nothing */
    h = history_open(path, &err);
    assert_non_null(h);
    history_close(h);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), HISTORY_SCHEMA_VERSION);

    /* a new file is stamped with the current version */
    char fresh[600];
    snprintf(fresh, sizeof fresh, "%s/new.db", dir);
    h = history_open(fresh, &err);
    assert_non_null(h);
    history_close(h);
    assert_int_equal(sql_int(fresh, "PRAGMA user_version"), HISTORY_SCHEMA_VERSION);
    remove_tree(dir);
    free(dir);
}

static void test_history_refuses_newer_or_foreign_files(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/newer.db", dir);
    sql_exec(path, OLD_LAYOUT);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA journal_mode=DELETE; PRAGMA user_version = %d;", HISTORY_SCHEMA_VERSION + 1);
    sql_exec(path, sql);
    struct stat before;
    assert_int_equal(stat(path, &before), 0);

    cd_err err;
    assert_null(history_open(path, &err));
    assert_int_equal(err.code, CD_ERR_UNSUPPORTED);
    char want[64];
    snprintf(want, sizeof want, "schema version %d", HISTORY_SCHEMA_VERSION + 1);
    if (!strstr(err.msg, path) || !strstr(err.msg, want) || !strstr(err.msg, "newer catdog") ||
        !strstr(err.msg, "another --db"))
        fail_msg("the refusal does not name the file, its version, why and what to do: %s", err.msg);
    snprintf(want, sizeof want, "up to %d", HISTORY_SCHEMA_VERSION);
    if (!strstr(err.msg, want))
        fail_msg("the refusal does not name this catdog's version: %s", err.msg);
    /* untouched: still version N+1, still in rollback-journal mode, both rows */
    assert_int_equal(sql_int(path, "PRAGMA user_version"), HISTORY_SCHEMA_VERSION + 1);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM predictions"), 2);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "delete");
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* an unversioned file of some other program's making: refused at open,
     * not by every insert later, and left at version 0 */
    snprintf(path, sizeof path, "%s/foreign.db", dir);
    sql_exec(path, "CREATE TABLE predictions(id INTEGER PRIMARY KEY, what TEXT);"
                   "INSERT INTO predictions(what) VALUES ('rain tomorrow');");
    assert_null(history_open(path, &err));
    if (!strstr(err.msg, path) || !strstr(err.msg, "not a catdog history"))
        fail_msg("a foreign file is not refused by name: %s", err.msg);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), 0);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM predictions"), 1);
    remove_tree(dir);
    free(dir);
}

static void test_client_names_are_sanitised(void **state)
{
    (void)state;
    char out[32];
    upload_sanitize_name("C:\\Users\\me\\cat.jpg", out, sizeof out);
    assert_string_equal(out, "cat.jpg");
    upload_sanitize_name("../../etc/passwd", out, sizeof out);
    assert_string_equal(out, "passwd");
    upload_sanitize_name("a\nb\tc\x7f.jpg", out, sizeof out);
    assert_string_equal(out, "abc.jpg");
    upload_sanitize_name("bad\xff\xfe utf8.jpg", out, sizeof out);
    assert_string_equal(out, "bad?? utf8.jpg");
    upload_sanitize_name("  кот.jpg  ", out, sizeof out);
    assert_string_equal(out, "кот.jpg");
    upload_sanitize_name("", out, sizeof out);
    assert_string_equal(out, "upload");
    upload_sanitize_name("dir/", out, sizeof out);
    assert_string_equal(out, "upload");
    upload_sanitize_name("..", out, sizeof out);
    assert_string_equal(out, "upload");
    upload_sanitize_name(NULL, out, sizeof out);
    assert_string_equal(out, "upload");
    /* cut at a character boundary: 10 two-byte letters into 8 bytes -> 3 letters + NUL */
    char small[8];
    upload_sanitize_name("кккккккккк", small, sizeof small);
    assert_string_equal(small, "ккк");
}

static void test_language_negotiation(void **state)
{
    (void)state;
    assert_int_equal(i18n_from_accept(NULL), LANG_RU);
    assert_int_equal(i18n_from_accept(""), LANG_RU);
    assert_int_equal(i18n_from_accept("en-US,en;q=0.9"), LANG_EN);
    assert_int_equal(i18n_from_accept("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"), LANG_RU);
    assert_int_equal(i18n_from_accept("en;q=0.3, ru;q=0.8"), LANG_RU);
    assert_int_equal(i18n_from_accept("de-DE,en;q=0.5"), LANG_EN);
    assert_int_equal(i18n_from_accept("fr, de"), LANG_RU);
    assert_int_equal(i18n_from_accept("en, ru"), LANG_EN);
    assert_int_equal(i18n_parse("EN"), LANG_EN);
    assert_int_equal(i18n_parse("xx"), -1);
    assert_string_equal(i18n(LANG_EN, I18N_VERDICT_DOG), "The Dog is at the picture");
    assert_string_equal(i18n(LANG_EN, I18N_VERDICT_CAT), "The Cat is at the picture");
    assert_string_equal(i18n(LANG_RU, I18N_TITLE_UPLOAD), "Загрузите ваше фото");
    assert_string_equal(i18n(LANG_EN, I18N_HELP_TITLE), "File didn't load");
    assert_string_equal(i18n_reason(LANG_EN, "too_large"), "The file is too large.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known_answer),
        cmocka_unit_test(test_names_are_strict),
        cmocka_unit_test(test_put_stores_once_by_content),
        cmocka_unit_test(test_failed_write_leaves_nothing),
        cmocka_unit_test(test_concurrent_puts_all_kept_whole),
        cmocka_unit_test(test_stale_temporaries_in_a_shared_folder),
        cmocka_unit_test(test_history_refuses_a_file_that_is_not_a_database),
        cmocka_unit_test(test_history_migrates_an_unversioned_file),
        cmocka_unit_test(test_history_refuses_newer_or_foreign_files),
        cmocka_unit_test(test_client_names_are_sanitised),
        cmocka_unit_test(test_language_negotiation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
