// The HDF5 C library (checkpoints). H5Tpublic.h exposes the native types as macros over globals.
#include <hdf5.h>
