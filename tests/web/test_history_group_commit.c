/*
 * test_history_group_commit.c - the SQLite history's group commit
 * (history_sqlite.c): rows of concurrent history_add calls share one
 * transaction, and still every call returns only with its own row durable,
 * with its own id, and with its own outcome.
 *
 * Rows are made to pile up behind a running commit deterministically: a second
 * connection holds the database's write lock (BEGIN IMMEDIATE) while the adders
 * start, so the first committer waits in its BEGIN (the busy timeout is 5 s; the
 * lock is held 0.1 s) and every other row queues behind it.
 */
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "web/history.h"

#define ADDERS 16
#define ROWS_EACH 25

static char g_dir[64];
static char g_db[96];

static int fresh(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/catdog-groupcommit-%d", (int)getpid());
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", g_dir, g_dir);
    if (system(cmd) != 0)
        fail_msg("cannot make %s", g_dir);
    snprintf(g_db, sizeof g_db, "%s/h.db", g_dir);
    return 0;
}

static int cleanup(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static history *open_ok(void)
{
    cd_err err;
    cd_err_clear(&err);
    history *h = history_open(g_db, &err);
    if (!h)
        fail_msg("history_open %s: %s", g_db, err.msg);
    return h;
}

/* Row i of adder t: every field says whose it is. */
static history_rec row(int t, int i, int bad)
{
    history_rec r;
    memset(&r, 0, sizeof r);
    r.time = 1700000000.0 + t * 1000 + i;
    snprintf(r.sha256, sizeof r.sha256, "%064d", t * 1000 + i);
    snprintf(r.file, sizeof r.file, "%s.jpg", r.sha256);
    snprintf(r.name, sizeof r.name, bad ? "bad" : "t%02d-%03d.jpg", t, i);
    r.size = 1000 + t * 1000 + i;
    r.width = 200 + t;
    r.height = 100 + i;
    snprintf(r.model, sizeof r.model, "binary");
    r.p_dog = (t * ROWS_EACH + i) / (double)(ADDERS * ROWS_EACH);
    r.label = r.p_dog >= 0.5;
    r.latency_ms = i;
    snprintf(r.result, sizeof r.result, "r%02dx%03d", t, i);
    return r;
}

/* Every 4th row of every adder is refused by the test's trigger (when installed). */
static int is_bad(int t, int i)
{
    return (t + i) % 4 == 0;
}

typedef struct adder {
    history *h;
    int t;
    int with_bad;
    pthread_barrier_t *go;
    history_rec rows[ROWS_EACH];
    int rc[ROWS_EACH];
    char msg[ROWS_EACH][CD_ERR_MSG_MAX];
} adder;

static void *add_rows(void *arg)
{
    adder *a = arg;
    pthread_barrier_wait(a->go);
    for (int i = 0; i < ROWS_EACH; i++) {
        a->rows[i] = row(a->t, i, a->with_bad && is_bad(a->t, i));
        cd_err err;
        cd_err_clear(&err);
        a->rc[i] = history_add(a->h, &a->rows[i], &err);
        snprintf(a->msg[i], sizeof a->msg[i], "%s", err.msg);
    }
    return NULL;
}

static void sql(sqlite3 *db, const char *s)
{
    char *msg = NULL;
    if (sqlite3_exec(db, s, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", s, msg ? msg : "?");
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ADDERS threads add ROWS_EACH rows each, all started together while another
 * connection holds the write lock for 0.1 s; returns them (caller frees). */
static adder *run_adders(history *h, int with_bad)
{
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(g_db, &other), SQLITE_OK);
    sqlite3_busy_timeout(other, 5000);
    sql(other, "BEGIN IMMEDIATE");
    adder *a = calloc(ADDERS, sizeof *a);
    assert_non_null(a);
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, ADDERS + 1), 0);
    pthread_t th[ADDERS];
    for (int t = 0; t < ADDERS; t++) {
        a[t] = (adder){.h = h, .t = t, .with_bad = with_bad, .go = &go};
        assert_int_equal(pthread_create(&th[t], NULL, add_rows, &a[t]), 0);
    }
    pthread_barrier_wait(&go);
    sleep_ms(100);
    sql(other, "COMMIT");
    sqlite3_close(other);
    for (int t = 0; t < ADDERS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&go);
    return a;
}

/* The row with this id is exactly `want` (so no two calls got the same id,
 * nor one call another's). */
static void expect_row(history *h, const history_rec *want)
{
    history_rec got;
    cd_err err;
    if (history_get(h, want->id, &got, &err) != 0)
        fail_msg("row %lld (%s) is missing: %s", want->id, want->result, err.msg);
    assert_string_equal(got.result, want->result);
    assert_string_equal(got.name, want->name);
    assert_string_equal(got.sha256, want->sha256);
    assert_int_equal(got.size, want->size);
    assert_int_equal(got.width, want->width);
    assert_int_equal(got.height, want->height);
    assert_true(got.p_dog == want->p_dog);
    assert_true(got.time == want->time);
    /* And it is there once: its result id names this row only. */
    history_rec same[2];
    int n = 0;
    assert_int_equal(history_by_result(h, want->result, same, 2, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(same[0].id, want->id);
}

static long long count(history *h)
{
    long long n = -1;
    cd_err err;
    if (history_count(h, &n, &err) != 0)
        fail_msg("history_count: %s", err.msg);
    return n;
}

static void test_concurrent_rows_each_kept_once_with_their_own_id(void **state)
{
    (void)state;
    history *h = open_ok();
    adder *a = run_adders(h, 0);
    for (int t = 0; t < ADDERS; t++)
        for (int i = 0; i < ROWS_EACH; i++) {
            if (a[t].rc[i] != 0)
                fail_msg("row %d of adder %d failed: %s", i, t, a[t].msg[i]);
            assert_true(a[t].rows[i].id > 0);
            expect_row(h, &a[t].rows[i]);
        }
    assert_int_equal(count(h), ADDERS * ROWS_EACH);
    /* Every row was counted once, in at most as many commits as rows. */
    history_commit_stats st = history_get_commit_stats(h);
    assert_int_equal(st.rows, ADDERS * ROWS_EACH);
    assert_true(st.commits >= 1 && st.commits <= st.rows);
    history_close(h);
    /* Reopened, all of them are still there. */
    h = open_ok();
    assert_int_equal(count(h), ADDERS * ROWS_EACH);
    for (int t = 0; t < ADDERS; t++)
        expect_row(h, &a[t].rows[ROWS_EACH - 1]);
    history_close(h);
    free(a);
}

/* A row the database refuses (here a trigger) fails its own call only: the
 * rows committed with it in one transaction are all kept, and no refused row
 * is. */
static void test_a_refused_row_fails_alone(void **state)
{
    (void)state;
    history *h = open_ok();
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(g_db, &other), SQLITE_OK);
    sql(other, "CREATE TRIGGER refuse_bad BEFORE INSERT ON predictions WHEN NEW.name = 'bad'"
               " BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END");
    sqlite3_close(other);
    adder *a = run_adders(h, 1);
    int good = 0;
    for (int t = 0; t < ADDERS; t++)
        for (int i = 0; i < ROWS_EACH; i++) {
            if (is_bad(t, i)) {
                assert_int_equal(a[t].rc[i], -1);
                assert_non_null(strstr(a[t].msg[i], "refused by the test trigger"));
                history_rec none[1];
                int n = -1;
                cd_err err;
                assert_int_equal(history_by_result(h, a[t].rows[i].result, none, 1, &n, &err), 0);
                assert_int_equal(n, 0);
            } else {
                if (a[t].rc[i] != 0)
                    fail_msg("good row %d of adder %d failed: %s", i, t, a[t].msg[i]);
                expect_row(h, &a[t].rows[i]);
                good++;
            }
        }
    assert_true(good > 0 && good < ADDERS * ROWS_EACH);
    assert_int_equal(count(h), good);
    assert_int_equal(history_get_commit_stats(h).rows, good); /* refused rows are not counted */
    history_close(h);
    free(a);
}

/* The child: KILL_ADDERS threads add rows until killed, and write "id result"
 * to fd after each history_add that returned 0 (one write(2) each, shorter
 * than PIPE_BUF, so lines never interleave). */
#define KILL_ADDERS 8

typedef struct killed_adder {
    history *h;
    int t;
    int fd;
} killed_adder;

static void *add_until_killed(void *arg)
{
    killed_adder *k = arg;
    for (int i = 0;; i++) {
        history_rec r = row(k->t, i % ROWS_EACH, 0);
        snprintf(r.result, sizeof r.result, "k%02dx%06d", k->t, i);
        cd_err err;
        if (history_add(k->h, &r, &err) != 0) {
            char line[CD_ERR_MSG_MAX + 16];
            int n = snprintf(line, sizeof line, "error %s\n", err.msg);
            if (write(k->fd, line, (size_t)n) < 0)
                _exit(3);
            _exit(2);
        }
        char line[96];
        int n = snprintf(line, sizeof line, "%lld %s\n", r.id, r.result);
        if (write(k->fd, line, (size_t)n) != n)
            _exit(3);
    }
    return NULL;
}

static void child_adds(int fd)
{
    cd_err err;
    history *h = history_open(g_db, &err);
    if (!h)
        _exit(4);
    killed_adder k[KILL_ADDERS];
    pthread_t th[KILL_ADDERS];
    for (int t = 0; t < KILL_ADDERS; t++) {
        k[t] = (killed_adder){h, t, fd};
        if (pthread_create(&th[t], NULL, add_until_killed, &k[t]) != 0)
            _exit(5);
    }
    for (;;)
        pause();
}

/* kill -9 while rows are being committed: every row whose history_add had
 * returned is there after a reopen, under its id (what a process kill can
 * check; a power loss is synchronous=FULL's part, history.h). */
static void test_acknowledged_rows_survive_kill9(void **state)
{
    (void)state;
    history_close(open_ok()); /* the schema, made before the child starts */
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_adds(p[1]);
    }
    close(p[1]);
    FILE *in = fdopen(p[0], "r");
    assert_non_null(in);
    enum { WANT = 300 };
    typedef struct acked {
        long long id;
        char result[33];
    } acked;
    size_t cap = 4096, n = 0;
    acked *acks = malloc(cap * sizeof *acks);
    assert_non_null(acks);
    char line[CD_ERR_MSG_MAX + 16];
    int killed = 0;
    while (fgets(line, sizeof line, in)) {
        if (strncmp(line, "error ", 6) == 0) {
            kill(pid, SIGKILL);
            fail_msg("the child's history_add failed: %s", line + 6);
        }
        if (n == cap) {
            cap *= 2;
            acks = realloc(acks, cap * sizeof *acks);
            assert_non_null(acks);
        }
        if (sscanf(line, "%lld %32s", &acks[n].id, acks[n].result) != 2)
            fail_msg("bad line from the child: %s", line);
        n++;
        if (n == WANT && !killed) {
            assert_int_equal(kill(pid, SIGKILL), 0);
            killed = 1;
        }
    }
    fclose(in);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_true(n >= WANT);
    history *h = open_ok();
    for (size_t i = 0; i < n; i++) {
        history_rec got;
        cd_err err;
        if (history_get(h, acks[i].id, &got, &err) != 0)
            fail_msg("acknowledged row %lld (%s) lost by the kill: %s", acks[i].id, acks[i].result, err.msg);
        assert_string_equal(got.result, acks[i].result);
        history_rec same[2];
        int m = 0;
        assert_int_equal(history_by_result(h, acks[i].result, same, 2, &m, &err), 0);
        assert_int_equal(m, 1); /* once */
    }
    /* Rows committed but not yet reported to the pipe may be there too. */
    assert_true(count(h) >= (long long)n);
    history_close(h);
    free(acks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_rows_each_kept_once_with_their_own_id, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_a_refused_row_fails_alone, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_acknowledged_rows_survive_kill9, fresh, cleanup),
    };
    return cmocka_run_group_tests_name("history group commit (SQLite)", tests, NULL, NULL);
}
