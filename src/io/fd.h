/*
 * The file-descriptor back end (internal): which descriptor an io reads,
 * for callers that can ask the file itself where its holes are.
 */
#ifndef VHDX_IO_FD_H
#define VHDX_IO_FD_H

#include "vhdx.h"

/* The descriptor of an io made by vhdx_io_from_fd, or -1 for any other io. */
int io_fd_descriptor(const vhdx_io *io);

#endif
