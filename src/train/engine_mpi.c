/*
 * engine_mpi.c - engine_comm over MPI_COMM_WORLD (see engine_mpi.h).
 */
#include "train/engine_mpi.h"

#include <stdlib.h>
#include <string.h>

#ifdef CATDOG_MPI
#include <mpi.h>
#endif

int engine_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

#ifdef CATDOG_MPI

int engine_mpi_available(void)
{
    return 1;
}

static int sum(void *buf, size_t n, MPI_Datatype type, cd_err *err)
{
    /* One call for the whole fused buffer; counts are int in MPI, so split
     * only what exceeds that. */
    char *p = buf;
    size_t el = type == MPI_FLOAT ? sizeof(float) : sizeof(double);
    while (n > 0) {
        int k = n > (size_t)1 << 30 ? 1 << 30 : (int)n;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p, k, type, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return cd_err_set(err, CD_ERR_IO, "MPI_Allreduce of %d values failed (code %d)", k, rc);
        p += (size_t)k * el;
        n -= (size_t)k;
    }
    return 0;
}

static int sum_floats(void *ctx, float *buf, size_t n, cd_err *err)
{
    (void)ctx;
    return sum(buf, n, MPI_FLOAT, err);
}

/* The sums in flight (engine_comm.start_sum): owned by the comm, freed by
 * engine_mpi_finalize. */
typedef struct mpi_ctx {
    MPI_Request *req;
    int n, cap;
} mpi_ctx;

static int start_sum(void *ctx, float *buf, size_t n, cd_err *err)
{
    mpi_ctx *c = ctx;
    while (n > 0) {
        int k = n > (size_t)1 << 30 ? 1 << 30 : (int)n;
        if (c->n == c->cap) {
            int cap = c->cap ? c->cap * 2 : 16;
            MPI_Request *r = realloc(c->req, (size_t)cap * sizeof *r);
            if (!r)
                return cd_err_set(err, CD_ERR_NOMEM, "MPI: out of memory for %d requests", cap);
            c->req = r;
            c->cap = cap;
        }
        int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &c->req[c->n]);
        if (rc != MPI_SUCCESS)
            return cd_err_set(err, CD_ERR_IO, "MPI_Iallreduce of %d values failed (code %d)", k, rc);
        c->n++;
        buf += k;
        n -= (size_t)k;
    }
    return 0;
}

static int poll_sums(void *ctx, cd_err *err)
{
    /* Open MPI moves non-blocking collectives on only inside MPI calls. */
    mpi_ctx *c = ctx;
    int done = 0;
    int rc = c->n ? MPI_Testall(c->n, c->req, &done, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    if (rc != MPI_SUCCESS)
        return cd_err_set(err, CD_ERR_IO, "MPI_Testall failed (code %d)", rc);
    if (done)
        c->n = 0;
    return 0;
}

static int wait_sums(void *ctx, cd_err *err)
{
    mpi_ctx *c = ctx;
    int rc = c->n ? MPI_Waitall(c->n, c->req, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    c->n = 0;
    if (rc != MPI_SUCCESS)
        return cd_err_set(err, CD_ERR_IO, "MPI_Waitall failed (code %d)", rc);
    return 0;
}

static int sum_doubles(void *ctx, double *buf, size_t n, cd_err *err)
{
    (void)ctx;
    return sum(buf, n, MPI_DOUBLE, err);
}

int engine_mpi_init(engine_comm *c, cd_err *err)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return cd_err_set(err, CD_ERR_IO, "MPI_Init failed (is this run under mpirun?)");
    memset(c, 0, sizeof *c);
    if (!(c->ctx = calloc(1, sizeof(mpi_ctx))))
        return cd_err_set(err, CD_ERR_NOMEM, "MPI: out of memory");
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    c->sum_floats = sum_floats;
    c->sum_doubles = sum_doubles;
    c->start_sum = start_sum;
    c->poll_sums = poll_sums;
    c->wait_sums = wait_sums;
    return 0;
}

void engine_mpi_finalize(engine_comm *c)
{
    if (c && c->ctx) {
        mpi_ctx *m = c->ctx;
        free(m->req);
        free(m);
        c->ctx = NULL;
    }
    int inited = 0, done = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&done);
    if (inited && !done)
        MPI_Finalize();
}

void engine_mpi_abort(int code)
{
    int inited = 0, done = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&done);
    if (inited && !done)
        MPI_Abort(MPI_COMM_WORLD, code);
}

#else

int engine_mpi_available(void)
{
    return 0;
}

int engine_mpi_init(engine_comm *c, cd_err *err)
{
    (void)c;
    return cd_err_set(err, CD_ERR_UNSUPPORTED,
                      "this catdog was built without MPI (install libopenmpi-dev and rebuild)");
}

void engine_mpi_finalize(engine_comm *c)
{
    (void)c;
}

void engine_mpi_abort(int code)
{
    (void)code;
}

#endif
