// The CBLAS interface of OpenBLAS, plus its thread controls.
#include <cblas.h>

// Exported by OpenBLAS's pthread build though not in cblas.h: re-reading the OPENBLAS_* environment
// and restarting the worker threads lets a program choose how long idle workers spin
// (OPENBLAS_THREAD_TIMEOUT) after the library has loaded. See Autograd/Parallel.swift.
void openblas_read_env(void);
int blas_thread_shutdown_(void);
int blas_thread_init(void);
