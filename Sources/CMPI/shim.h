#include <mpi.h>

// MPI's predefined handles are macros Swift cannot import (in Open MPI, casts of the addresses
// of library globals; in MPICH, casts of integers). These functions hand them over as values of
// the handle types, whatever the implementation makes those.
static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_uint16(void) { return MPI_UINT16_T; }
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
