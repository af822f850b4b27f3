/*
 * Opening files by path (internal): the regular-file checks behind
 * vhdx_open_path and the parent resolution of images opened by path.
 *
 * A parent locator's paths are untrusted (SECURITY.md). The built-in opener
 * only opens regular files inside the directory of the image whose locator
 * is being resolved or a directory the caller allows, after following every
 * symlink; a FIFO or device is
 * never opened in a way that could block.
 */
#ifndef VHDX_IO_PATH_H
#define VHDX_IO_PATH_H

#include <limits.h>
#include <stddef.h>

#include "base/compiler.h"
#include "vhdx.h"

#define IO_PATH_MAX PATH_MAX

/*
 * Resolves the locator entry key = value (UTF-8, Windows-style) against
 * child_dir, the directory of the image whose locator it is, and opens the
 * file read-only into *out (which owns the descriptor).
 *   "relative_path":                      '\' becomes '/'; absolute forms
 *                                         ("\x", "\\server", "C:x") are refused;
 *                                         ".." may not climb above child_dir
 *                                         (with `allowed`: it may, as long as
 *                                         the result lies in an allowed one).
 *   "absolute_win32_path", "volume_path": only the final component is used,
 *                                         looked up in child_dir, then in each
 *                                         allowed directory in order.
 * The result, after realpath(), must lie strictly inside realpath(child_dir)
 * or inside the realpath() of one of `allowed` (a NULL-terminated list of
 * directories, or NULL for none), and be a regular file.
 * Returns VHDX_E_MISSING when the file does not exist, VHDX_E_INVALID_ARG
 * for a refused path (unknown key, absolute, escaping, a symlink leading
 * out, not a regular file, too long, or `resolved` too small) and
 * VHDX_E_IO for another system error. When `resolved` is not NULL it
 * receives the absolute real path of the file opened (resolved_cap bytes
 * with the NUL); "" on failure.
 */
MUST_USE vhdx_status io_path_resolve_parent_in(const char *child_dir, const char *const *allowed,
                                               const char *key, const char *value, vhdx_io *out,
                                               char *resolved, size_t resolved_cap);

/* io_path_resolve_parent_in with no allowed directories besides child_dir. */
MUST_USE vhdx_status io_path_resolve_parent(const char *child_dir, const char *key,
                                            const char *value, vhdx_io *out, char *resolved,
                                            size_t resolved_cap);

/*
 * Opens the image file at `path` as a regular file (never blocking on a
 * FIFO), read-only unless `writable`, into *io (which owns the descriptor),
 * and writes the real path of its directory into dir[0, dir_cap) (where
 * its parent locator is resolved) and its own real path into
 * file[0, file_cap) (its identity in a differencing chain). VHDX_E_MISSING when the file
 * does not exist, VHDX_E_INVALID_ARG when it is not a regular file,
 * VHDX_E_IO for another system error.
 */
MUST_USE vhdx_status io_path_open_image(const char *path, int writable, vhdx_io *io, char *dir,
                                        size_t dir_cap, char *file, size_t file_cap);

#endif
