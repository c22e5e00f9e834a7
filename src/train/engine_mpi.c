/*
 * engine_mpi.c - engine_comm over MPI_COMM_WORLD (see engine_mpi.h).
 */
#include "train/engine_mpi.h"

#include <stdlib.h>

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
    c->ctx = NULL;
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    c->sum_floats = sum_floats;
    c->sum_doubles = sum_doubles;
    return 0;
}

void engine_mpi_finalize(void)
{
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

void engine_mpi_finalize(void)
{
}

void engine_mpi_abort(int code)
{
    (void)code;
}

#endif
