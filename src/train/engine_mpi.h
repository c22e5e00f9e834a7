/*
 * engine_mpi.h - the engine's ranks over Open MPI (engine_comm, engine.h).
 *
 * Built with MPI when CMake finds it (CATDOG_MPI); otherwise every call says
 * so and a run stays one process.  `mpirun -np N catdog train ...` starts N
 * processes; each calls engine_mpi_init once, passes the communicator in
 * train_opts.comm, and engine_mpi_finalize before it exits.  Sums go through
 * MPI_Allreduce on MPI_COMM_WORLD; the non-blocking ones (start_sum, for the
 * gradients while the backward pass goes on) through MPI_Iallreduce, moved on
 * by MPI_Testall (poll_sums) and completed by MPI_Waitall.  A rank that dies (killed, crashed) makes
 * mpirun end the whole job with a message naming it, rather than hang; a rank
 * that fails with an error calls engine_mpi_abort after printing it.
 */
#ifndef CATDOG_TRAIN_ENGINE_MPI_H
#define CATDOG_TRAIN_ENGINE_MPI_H

#include "core/error.h"
#include "train/engine.h"

/* 1 when this binary was built with MPI. */
int engine_mpi_available(void);

/* 1 when the process was started by mpirun (Open MPI's environment). */
int engine_mpi_launched(void);

/* MPI_Init (once) and c filled for MPI_COMM_WORLD.  0, or -1 (err filled:
 * built without MPI, or MPI_Init failed). */
int engine_mpi_init(engine_comm *c, cd_err *err);

/* Frees what engine_mpi_init gave c (c may be NULL), then MPI_Finalize when
 * MPI_Init ran; harmless otherwise. */
void engine_mpi_finalize(engine_comm *c);

/* Ends every rank of the job with `code` (MPI_Abort): what a rank that fails
 * on its own calls, since its peers would otherwise wait in the next
 * collective forever (and MPI_Finalize would wait for them).  Returns only
 * when MPI is not running. */
void engine_mpi_abort(int code);

#endif
