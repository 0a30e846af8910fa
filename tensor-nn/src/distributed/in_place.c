/* The value of MPI_IN_PLACE for the MPI library this crate is linked against: (void *)1 in
 * Open MPI, (void *)-1 in MPICH. Compiled with mpicc by tensor-nn's build.rs (feature `mpi`). */
#include <mpi.h>

void *dimflow_mpi_in_place(void) { return MPI_IN_PLACE; }
