/*
 * test_history_backends.c - the history contract (history.h), the same tests
 * against both backends: run with no argument it checks SQLite (a file in a
 * scratch folder); run with a PostgreSQL connection string as its argument
 * (tests/web/test_history_pg.sh starts a throwaway server and does that) it
 * checks PostgreSQL, plus what only PostgreSQL has: connections that die and
 * come back, and the spool that keeps acknowledged rows while the server is
 * down (CATDOG_PG_STOP / CATDOG_PG_START name the commands that stop and
 * start it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

#include "test_util.h"
#include "web/history.h"

/* The backend under test (set once by main). */
static struct {
    const char *pg;   /* connection string, or NULL for SQLite */
    char dir[64];     /* scratch folder: the SQLite file, the spool */
    char target[700]; /* what history_open gets */
} T;

static void sh(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("'%s' failed (status %d)", cmd, rc);
}

static void pg_exec(const char *sql)
{
    PGconn *c = PQconnectdb(T.pg);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to %s: %s", T.pg, PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* A fresh, empty history for each test. */
static int fresh(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", T.dir, T.dir);
    sh(cmd);
    if (T.pg) {
        pg_exec("DROP TABLE IF EXISTS predictions, meta, catdog_schema");
        snprintf(T.target, sizeof T.target, "%s", T.pg);
    } else {
        snprintf(T.target, sizeof T.target, "%s/h.db", T.dir);
    }
    return 0;
}

static history *open_ok(const history_options *o)
{
    cd_err err;
    cd_err_clear(&err);
    history *h = history_open_with(T.target, o, &err);
    if (!h)
        fail_msg("history_open %s: %s", T.pg ? "(PostgreSQL)" : T.target, err.msg);
    return h;
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

static long long count(history *h)
{
    cd_err err;
    long long n = -1;
    if (history_count(h, &n, &err) != 0)
        fail_msg("history_count: %s", err.msg);
    return n;
}

static void test_target_names_the_backend(void **state)
{
    (void)state;
    assert_true(history_target_is_pg("postgresql://u@db.example/catdog"));
    assert_true(history_target_is_pg("postgres://localhost"));
    assert_true(history_target_is_pg("host=/tmp/pg dbname=catdog"));
    assert_true(history_target_is_pg("  dbname = catdog"));
    assert_false(history_target_is_pg("catdog.db"));
    assert_false(history_target_is_pg("/var/lib/catdog/history.db"));
    assert_false(history_target_is_pg("./host=x.db"));
    assert_false(history_target_is_pg("hosting.db"));
    assert_string_equal(history_backend(NULL), "off");
    assert_int_equal(history_get_state(NULL), HISTORY_OFF);
    assert_true(history_get_commit_stats(NULL).commits == 0 && history_get_commit_stats(NULL).rows == 0);
}

typedef struct seen {
    int n;
    char files[8][140];
    int feedback[8];
} seen;

static int collect(const history_rec *r, void *ctx)
{
    seen *s = ctx;
    snprintf(s->files[s->n], sizeof s->files[0], "%s", r->file);
    s->feedback[s->n++] = r->feedback;
    return 0;
}

static void test_rows_paging_feedback_and_reopen(void **state)
{
    (void)state;
    history *h = open_ok(NULL);
    assert_string_equal(history_backend(h), T.pg ? "postgresql" : "sqlite");
    assert_int_equal(history_get_state(h), HISTORY_OK);
    cd_err err;
    history_rec a = rec("aaaa", "кот.jpg", "binary", 0.1), b = rec("bbbb", "dog's \"photo\".png", "transfer", 0.9),
                c = rec("aaaa", "same photo again", "binary", 0.2);
    assert_int_equal(history_add(h, &a, &err), 0);
    assert_int_equal(history_add(h, &b, &err), 0);
    assert_int_equal(history_add(h, &c, &err), 0);
    assert_true(a.id > 0 && b.id > a.id && c.id > b.id);
    assert_int_equal(count(h), 3);

    history_rec rows[3];
    int got = 0;
    assert_int_equal(history_list(h, 0, 2, rows, &got, &err), 0);
    assert_int_equal(got, 2);
    assert_int_equal(rows[0].id, c.id); /* newest first */
    assert_int_equal(rows[1].id, b.id);
    assert_string_equal(rows[1].name, "dog's \"photo\".png");
    assert_string_equal(rows[1].model, "transfer");
    assert_string_equal(rows[1].sha256, "bbbb");
    assert_string_equal(rows[1].file, "bbbb.jpg");
    assert_int_equal(rows[1].label, 1);
    assert_true(rows[1].p_dog == 0.9);          /* doubles survive the round trip exactly */
    assert_true(rows[1].time == 1700000000.5);
    assert_true(rows[1].latency_ms == 2.5);
    assert_int_equal(rows[1].width, 200);
    assert_int_equal(rows[1].height, 150);
    assert_int_equal(rows[1].size, 1234);
    assert_int_equal(rows[1].feedback, HISTORY_NO_FEEDBACK);
    assert_string_equal(rows[1].result, "");
    assert_int_equal(history_list(h, 2, 2, rows, &got, &err), 0);
    assert_int_equal(got, 1);
    assert_string_equal(rows[0].name, "кот.jpg");
    assert_int_equal(history_list(h, 3, 2, rows, &got, &err), 0);
    assert_int_equal(got, 0);

    /* feedback: stored, replaced, cleared; unknown rows refused */
    assert_int_equal(history_set_feedback(h, a.id, 1, &err), 0);
    assert_int_equal(history_set_feedback(h, b.id, 0, &err), 0);
    assert_int_equal(history_set_feedback(h, 9999, 0, &err), -1);
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    history_rec one;
    assert_int_equal(history_get(h, a.id, &one, &err), 0);
    assert_int_equal(one.feedback, 1);
    assert_true(one.feedback_time > 1.6e9);
    assert_int_equal(history_get(h, 9999, &one, &err), -1);
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    /* the same photo corrected again later: the newer answer wins in the export */
    sleep(1);
    assert_int_equal(history_set_feedback(h, c.id, 0, &err), 0);
    seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(history_each_feedback(h, collect, &s, &err), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.files[0], "bbbb.jpg");
    assert_int_equal(s.feedback[0], 0);
    assert_string_equal(s.files[1], "aaaa.jpg");
    assert_int_equal(s.feedback[1], 0);
    assert_int_equal(history_set_feedback(h, b.id, HISTORY_NO_FEEDBACK, &err), 0);

    assert_int_equal(history_set_meta(h, "upload_dir", "/srv/photos", &err), 0);
    assert_int_equal(history_set_meta(h, "upload_dir", "/srv/photos2", &err), 0); /* replaced */
    history_close(h);

    /* everything is there after reopening */
    h = open_ok(NULL);
    assert_int_equal(count(h), 3);
    assert_int_equal(history_get(h, b.id, &one, &err), 0);
    assert_int_equal(one.feedback, HISTORY_NO_FEEDBACK);
    assert_true(one.feedback_time == 0);
    char meta[64];
    assert_int_equal(history_get_meta(h, "upload_dir", meta, sizeof meta, &err), 0);
    assert_string_equal(meta, "/srv/photos2");
    assert_int_equal(history_get_meta(h, "nothing", meta, sizeof meta, &err), 0);
    assert_string_equal(meta, "");
    history_close(h);
}

typedef struct files_seen {
    int n;
    char names[8][140];
} files_seen;

static void collect_file(const char *file, void *ctx)
{
    files_seen *f = ctx;
    snprintf(f->names[f->n++], sizeof f->names[0], "%s", file);
}

static void test_result_rows_and_expiry(void **state)
{
    (void)state;
    history *h = open_ok(NULL);
    cd_err err;
    /* one result, two models; an old photo sent again later; an old one alone */
    history_rec r1 = rec("1111", "a.jpg", "binary", 0.7), r2 = rec("1111", "a.jpg", "transfer", 0.8),
                old = rec("2222", "b.jpg", "binary", 0.3), again = rec("2222", "b.jpg", "binary", 0.3),
                gone = rec("3333", "c.jpg", "binary", 0.6);
    snprintf(r1.result, sizeof r1.result, "r0123456789abcdef0123456789abcd");
    snprintf(r2.result, sizeof r2.result, "r0123456789abcdef0123456789abcd");
    old.time = gone.time = 1000;
    r1.time = r2.time = again.time = 5000;
    history_rec *all[] = {&old, &gone, &r1, &r2, &again};
    for (int i = 0; i < 5; i++)
        assert_int_equal(history_add(h, all[i], &err), 0);

    history_rec rows[4];
    int n = -1;
    assert_int_equal(history_by_result(h, "r0123456789abcdef0123456789abcd", rows, 4, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].model, "binary"); /* oldest first */
    assert_string_equal(rows[1].model, "transfer");
    assert_string_equal(rows[1].result, "r0123456789abcdef0123456789abcd");
    assert_int_equal(history_by_result(h, "r0123456789abcdef0123456789abcd", rows, 1, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(history_by_result(h, "nobody", rows, 4, &n, &err), 0);
    assert_int_equal(n, 0);

    files_seen f;
    memset(&f, 0, sizeof f);
    long long removed = -1;
    assert_int_equal(history_expire(h, 2000, collect_file, &f, &removed, &err), 0);
    assert_int_equal(removed, 2);
    assert_int_equal(f.n, 1); /* 2222.jpg is still named by a newer row */
    assert_string_equal(f.names[0], "3333.jpg");
    assert_int_equal(count(h), 3);
    history_close(h);
}

/* Sets the stored schema version behind history.c's back. */
static void set_version(int v)
{
    char sql[128];
    if (T.pg) {
        snprintf(sql, sizeof sql, "UPDATE catdog_schema SET version = %d", v);
        pg_exec(sql);
        return;
    }
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(T.target, &db), SQLITE_OK);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_newer_schema_is_refused_untouched(void **state)
{
    (void)state;
    history *h = open_ok(NULL);
    cd_err err;
    history_rec a = rec("aaaa", "a.jpg", "binary", 0.1);
    assert_int_equal(history_add(h, &a, &err), 0);
    history_close(h);
    set_version(HISTORY_SCHEMA_VERSION + 1);
    cd_err_clear(&err);
    assert_null(history_open(T.target, &err));
    assert_int_equal(err.code, CD_ERR_UNSUPPORTED);
    char want[64];
    snprintf(want, sizeof want, "schema version %d", HISTORY_SCHEMA_VERSION + 1);
    assert_non_null(strstr(err.msg, want));
    set_version(HISTORY_SCHEMA_VERSION);
    h = open_ok(NULL);
    assert_int_equal(count(h), 1);
    history_close(h);
}

#define ADDERS 6
#define ADDS_EACH 20

static void *adder(void *arg)
{
    history *h = arg;
    for (int i = 0; i < ADDS_EACH; i++) {
        history_rec r = rec("cccc", "c.jpg", "binary", 0.5);
        cd_err err;
        if (history_add(h, &r, &err) != 0 || r.id <= 0)
            return (void *)1;
    }
    return NULL;
}

/* More threads than pooled connections: every add is kept, each with its own id. */
static void test_concurrent_adds_all_kept(void **state)
{
    (void)state;
    history_options o = {.connections = 2};
    history *h = open_ok(&o);
    pthread_t t[ADDERS];
    for (int i = 0; i < ADDERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, adder, h), 0);
    for (int i = 0; i < ADDERS; i++) {
        void *rc = NULL;
        pthread_join(t[i], &rc);
        assert_null(rc);
    }
    assert_int_equal(count(h), ADDERS * ADDS_EACH);
    /* SQLite counts its group commits (every row once); PostgreSQL does not count. */
    history_commit_stats st = history_get_commit_stats(h);
    assert_int_equal(st.rows, T.pg ? 0 : ADDERS * ADDS_EACH);
    assert_true(T.pg ? st.commits == 0 : st.commits >= 1 && st.commits <= st.rows);
    history_rec *rows = calloc(ADDERS * ADDS_EACH, sizeof *rows);
    assert_non_null(rows);
    int n = 0;
    cd_err err;
    assert_int_equal(history_list(h, 0, ADDERS * ADDS_EACH, rows, &n, &err), 0);
    assert_int_equal(n, ADDERS * ADDS_EACH);
    for (int i = 1; i < n; i++)
        assert_true(rows[i].id < rows[i - 1].id); /* distinct, newest first */
    free(rows);
    history_close(h);
}

typedef struct opener {
    history *h;
    cd_err err;
} opener;

static void *open_one(void *arg)
{
    opener *o = arg;
    o->h = history_open(T.target, &o->err);
    return NULL;
}

/* Replicas starting together on a new database: each opens it, the schema is
 * made once (PostgreSQL: pg_advisory_lock; SQLite: BEGIN IMMEDIATE). */
static void test_concurrent_opens_migrate_once(void **state)
{
    (void)state;
    enum { OPENERS = 4 };
    opener o[OPENERS];
    pthread_t t[OPENERS];
    memset(o, 0, sizeof o);
    for (int i = 0; i < OPENERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, open_one, &o[i]), 0);
    for (int i = 0; i < OPENERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < OPENERS; i++)
        if (!o[i].h)
            fail_msg("opener %d: %s", i, o[i].err.msg);
    cd_err err;
    for (int i = 0; i < OPENERS; i++) {
        history_rec r = rec("gggg", "g.jpg", "binary", 0.5);
        assert_int_equal(history_add(o[i].h, &r, &err), 0);
    }
    assert_int_equal(count(o[0].h), OPENERS);
    for (int i = 0; i < OPENERS; i++)
        history_close(o[i].h);
}

/* ---- PostgreSQL only ---- */

/* The server ends every catdog connection (what a restart does to them):
 * the next calls reconnect and succeed. */
static void test_pg_dead_connections_are_replaced(void **state)
{
    (void)state;
    history_options o = {.connections = 3};
    history *h = open_ok(&o);
    cd_err err;
    for (int i = 0; i < 3; i++) {
        history_rec r = rec("dddd", "d.jpg", "binary", 0.4);
        assert_int_equal(history_add(h, &r, &err), 0);
    }
    pg_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()");
    for (int i = 0; i < 3; i++) {
        history_rec r = rec("eeee", "e.jpg", "binary", 0.4);
        cd_err_clear(&err);
        if (history_add(h, &r, &err) != 0)
            fail_msg("add after the connections died: %s", err.msg);
        assert_true(r.id > 0);
    }
    assert_int_equal(count(h), 6);
    assert_int_equal(history_get_state(h), HISTORY_OK);
    history_close(h);
}

static int spool_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static void add_result_row(history *h, const char *name, int i)
{
    history_rec r = rec("ffff", name, "binary", 0.6);
    snprintf(r.result, sizeof r.result, "spool%027d", i);
    cd_err err;
    cd_err_clear(&err);
    if (history_add(h, &r, &err) != 0)
        fail_msg("add %s: %s", name, err.msg);
}

/* Server stopped: adds still return 0 (spooled, fsynced); once it is back the
 * rows go in, in order, exactly once, even when a crash left the replayed
 * journal behind. */
static void test_pg_spool_keeps_rows_while_down(void **state)
{
    (void)state;
    const char *stop = getenv("CATDOG_PG_STOP"), *start = getenv("CATDOG_PG_START");
    if (!stop || !start)
        fail_msg("CATDOG_PG_STOP and CATDOG_PG_START must name the commands that stop and start the server");
    history_options o = {.connections = 2, .spool_dir = T.dir};
    history *h = open_ok(&o);
    char spool[200], copy[220];
    snprintf(spool, sizeof spool, "%s/.history-spool-0", T.dir);
    snprintf(copy, sizeof copy, "%s/spool-copy", T.dir);
    add_result_row(h, "before.jpg", 0);
    sh(stop);
    add_result_row(h, "down1.jpg", 1);
    add_result_row(h, "down2.jpg", 2);
    add_result_row(h, "down3.jpg", 3);
    assert_int_equal(spool_lines(spool), 3);
    assert_int_equal(history_get_state(h), HISTORY_RECONNECTING);
    long long n = 0;
    cd_err err;
    assert_int_equal(history_count(h, &n, &err), -1); /* reads fail while it is down */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", spool, copy);
    sh(cmd);
    sh(start);
    /* The next call past the backoff reconnects and replays (up to 5 s apart). */
    int up = 0;
    for (int i = 0; i < 600 && !up; i++) {
        up = history_get_state(h) == HISTORY_OK && spool_lines(spool) == 0;
        if (!up)
            usleep(100000);
    }
    assert_true(up);
    add_result_row(h, "after.jpg", 4);
    assert_int_equal(count(h), 5);
    history_rec rows[5];
    int got = 0;
    assert_int_equal(history_list(h, 0, 5, rows, &got, &err), 0);
    assert_int_equal(got, 5);
    const char *order[5] = {"after.jpg", "down3.jpg", "down2.jpg", "down1.jpg", "before.jpg"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(rows[i].name, order[i]);
    assert_true(rows[1].time == 1700000000.5);
    history_close(h);

    /* A crash after the replay but before the journal was emptied, plus a
     * torn last line (an append the crash cut short, never acknowledged),
     * and the database down again at the restart: the torn line is cut off,
     * so the row spooled next is whole. */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && printf '{\"time\":17' >> '%s'", copy, spool, spool);
    sh(cmd);
    sh(stop);
    h = open_ok(&o);
    add_result_row(h, "after-crash.jpg", 6);
    assert_int_equal(spool_lines(spool), 4);
    sh(start);
    up = 0;
    for (int i = 0; i < 600 && !up; i++) {
        up = history_get_state(h) == HISTORY_OK && spool_lines(spool) == 0;
        if (!up)
            usleep(100000);
    }
    assert_true(up);
    assert_int_equal(count(h), 6); /* the 3 replayed again added nothing; after-crash.jpg went in */
    assert_int_equal(history_list(h, 0, 1, rows, &got, &err), 0);
    assert_string_equal(rows[0].name, "after-crash.jpg");
    history_close(h);

    /* Down at open, on a database without tables: the history opens anyway
     * (spooling), and the first connection that gets through migrates. */
    pg_exec("DROP TABLE predictions, meta, catdog_schema");
    sh(stop);
    h = open_ok(&o);
    assert_int_equal(history_get_state(h), HISTORY_RECONNECTING);
    add_result_row(h, "while-starting.jpg", 5);
    assert_int_equal(spool_lines(spool), 1);
    sh(start);
    up = 0;
    for (int i = 0; i < 600 && !up; i++) {
        up = history_get_state(h) == HISTORY_OK && spool_lines(spool) == 0;
        if (!up)
            usleep(100000);
    }
    assert_true(up);
    assert_int_equal(count(h), 1);
    assert_int_equal(history_list(h, 0, 1, rows, &got, &err), 0);
    assert_string_equal(rows[0].name, "while-starting.jpg");
    history_close(h);
    /* without a spool, an unreachable server is an error naming it */
    sh(stop);
    cd_err_clear(&err);
    assert_null(history_open(T.target, &err));
    assert_non_null(strstr(err.msg, "PostgreSQL database catdog"));
    sh(start);
}

int main(int argc, char **argv)
{
    T.pg = argc > 1 ? argv[1] : NULL;
    snprintf(T.dir, sizeof T.dir, "/tmp/catdog-hist-%ld", (long)getpid());
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_target_names_the_backend),
        cmocka_unit_test_setup(test_rows_paging_feedback_and_reopen, fresh),
        cmocka_unit_test_setup(test_result_rows_and_expiry, fresh),
        cmocka_unit_test_setup(test_newer_schema_is_refused_untouched, fresh),
        cmocka_unit_test_setup(test_concurrent_adds_all_kept, fresh),
        cmocka_unit_test_setup(test_concurrent_opens_migrate_once, fresh),
    };
    const struct CMUnitTest pg[] = {
        cmocka_unit_test(test_target_names_the_backend),
        cmocka_unit_test_setup(test_rows_paging_feedback_and_reopen, fresh),
        cmocka_unit_test_setup(test_result_rows_and_expiry, fresh),
        cmocka_unit_test_setup(test_newer_schema_is_refused_untouched, fresh),
        cmocka_unit_test_setup(test_concurrent_adds_all_kept, fresh),
        cmocka_unit_test_setup(test_concurrent_opens_migrate_once, fresh),
        cmocka_unit_test_setup(test_pg_dead_connections_are_replaced, fresh),
        cmocka_unit_test_setup(test_pg_spool_keeps_rows_while_down, fresh),
    };
    int rc = T.pg ? cmocka_run_group_tests_name("history (PostgreSQL)", pg, NULL, NULL)
                  : cmocka_run_group_tests_name("history (SQLite)", common, NULL, NULL);
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", T.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", T.dir);
    return rc;
}
