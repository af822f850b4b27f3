/*
 * vhdx_open_path and the built-in parent opener.
 *
 * No globals: the opener's state is a struct io_path_opener that
 * vhdx_open_path keeps on its stack while vhdx_open runs.
 */
#define _FILE_OFFSET_BITS 64

#include "io/path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Opens `path` as a regular file. O_NONBLOCK makes opening a FIFO return at
 * once instead of waiting for a writer; fstat then refuses anything that is
 * not a regular file, and blocking mode is restored for the regular file.
 */
static vhdx_status open_regular(const char *path, int flags, int *fd_out)
{
    struct stat st;
    int fd, fl;

    *fd_out = -1;
    do
        fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        switch (errno) {
        case ENOENT:
        case ENOTDIR:
            return VHDX_E_MISSING;
        case EISDIR: /* a directory opened for writing */
        case ELOOP:  /* O_NOFOLLOW met a symlink */
        case ENXIO:  /* a socket, or a device without a driver */
        case ENAMETOOLONG:
            return VHDX_E_INVALID_ARG;
        default:
            return VHDX_E_IO;
        }
    }
    if (fstat(fd, &st) != 0) {
        (void)close(fd);
        return VHDX_E_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        (void)close(fd);
        return VHDX_E_INVALID_ARG;
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        (void)close(fd);
        return VHDX_E_IO;
    }
    *fd_out = fd;
    return VHDX_OK;
}

/* realpath() with its errors mapped: absent is MISSING, unresolvable is INVALID_ARG. */
static vhdx_status real_path(const char *path, char real[IO_PATH_MAX])
{
    if (realpath(path, real) != NULL)
        return VHDX_OK;
    real[0] = '\0';
    switch (errno) {
    case ENOENT:
    case ENOTDIR:
        return VHDX_E_MISSING;
    case ELOOP:
    case ENAMETOOLONG:
        return VHDX_E_INVALID_ARG;
    default:
        return VHDX_E_IO;
    }
}

/* Copies src into dst (cap bytes) or fails when it does not fit. */
static bool copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* The directory part of a path: "." when it has none, "/" for "/x". */
static bool dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (slash == NULL)
        return copy_str(dir, cap, ".");
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap)
        return false;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return true;
}

/* Appends one component to rel ('/'-separated, no leading '/'). */
static bool rel_push(char *rel, size_t cap, const char *comp, size_t len)
{
    size_t at = strlen(rel);
    size_t need = at + (at != 0) + len + 1;
    if (need > cap)
        return false;
    if (at != 0)
        rel[at++] = '/';
    memcpy(rel + at, comp, len);
    rel[at + len] = '\0';
    return true;
}

/*
 * A Windows relative path as a normalised '/'-separated relative path:
 * "." dropped, ".." applied lexically. A ".." above the start is refused
 * when `up` is NULL; otherwise *up counts them (the caller climbs that
 * many directories from the start). realpath() later follows symlinks;
 * the containment check after it is the one that holds. This early check
 * refuses escapes even when the target is absent.
 */
static vhdx_status normalise_relative(const char *value, char *rel, size_t cap, unsigned *up)
{
    const char *p = value;

    rel[0] = '\0';
    if (up != NULL)
        *up = 0;
    if (value[0] == '\0' || value[0] == '\\' || value[0] == '/')
        return VHDX_E_INVALID_ARG;
    /* A drive-qualified path ("C:x" or "C:\x") is not relative to anything here. */
    if (((value[0] >= 'A' && value[0] <= 'Z') || (value[0] >= 'a' && value[0] <= 'z')) &&
        value[1] == ':')
        return VHDX_E_INVALID_ARG;
    while (*p != '\0') {
        size_t len = strcspn(p, "\\/");
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* an empty or "." component */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            char *slash = strrchr(rel, '/');
            if (rel[0] == '\0') {
                if (up == NULL || *up >= IO_PATH_MAX / 3)
                    return VHDX_E_INVALID_ARG;
                (*up)++;
            } else if (slash != NULL) {
                *slash = '\0';
            } else {
                rel[0] = '\0';
            }
        } else if (!rel_push(rel, cap, p, len)) {
            return VHDX_E_INVALID_ARG;
        }
        p += len;
        if (*p != '\0')
            p++;
    }
    return rel[0] == '\0' ? VHDX_E_INVALID_ARG : VHDX_OK;
}

/* The final component of a Windows path, as the one component of rel. */
static vhdx_status final_component(const char *value, char *rel, size_t cap)
{
    const char *p = value, *last = value;

    rel[0] = '\0';
    for (; *p != '\0'; p++)
        if (*p == '\\' || *p == '/')
            last = p + 1;
    if (last[0] == '\0' || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
        return VHDX_E_INVALID_ARG;
    return copy_str(rel, cap, last) ? VHDX_OK : VHDX_E_INVALID_ARG;
}

/* True when `path` names something strictly below directory `dir` (both real paths). */
static bool strictly_inside(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return path[0] == '/' && path[1] != '\0';
    return strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

/*
 * The descriptor must name the path that was checked: a directory renamed
 * or swapped for a symlink between realpath() and open() would show here.
 * Where /proc is not mounted the check is skipped.
 */
static bool fd_names_path(int fd, const char *path)
{
#ifdef __linux__
    char link[64];
    char target[IO_PATH_MAX];
    ssize_t n;

    (void)snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof(target));
    if (n < 0)
        return true;
    if ((size_t)n >= sizeof(target))
        return false;
    target[n] = '\0';
    return strcmp(target, path) == 0;
#else
    (void)fd;
    (void)path;
    return true;
#endif
}

/* Removes `up` final components of the real directory `dir` ("/" stays "/"). */
static void climb(char *dir, unsigned up)
{
    for (; up > 0; up--) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL || slash == dir) {
            dir[0] = '/';
            dir[1] = '\0';
            return;
        }
        *slash = '\0';
    }
}

/* realpath(dir + "/" + rel). */
static vhdx_status join_real(const char *dir, const char *rel, char real[IO_PATH_MAX])
{
    char joined[IO_PATH_MAX];
    int n = snprintf(joined, sizeof(joined), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, rel);

    real[0] = '\0';
    if (n < 0 || (size_t)n >= sizeof(joined))
        return VHDX_E_INVALID_ARG;
    return real_path(joined, real);
}

/*
 * True when the real path `real` lies strictly inside the real directory
 * `dir` or inside one of the caller's `allowed` directories (resolved with
 * realpath; one that does not resolve allows nothing).
 */
static bool inside_allowed(const char *dir, const char *const *allowed, const char *real)
{
    char ra[IO_PATH_MAX];

    if (strictly_inside(dir, real))
        return true;
    for (size_t i = 0; allowed != NULL && allowed[i] != NULL; i++)
        if (real_path(allowed[i], ra) == VHDX_OK && strictly_inside(ra, real))
            return true;
    return false;
}

/*
 * The final component `name` looked up in the child's directory, then in
 * each allowed directory in turn: the first that exists is the one.
 */
static vhdx_status find_component(const char *dir, const char *const *allowed, const char *name,
                                  char real[IO_PATH_MAX])
{
    char ra[IO_PATH_MAX];
    vhdx_status st = join_real(dir, name, real);

    if (st != VHDX_E_MISSING)
        return st;
    for (size_t i = 0; allowed != NULL && allowed[i] != NULL; i++) {
        st = real_path(allowed[i], ra);
        if (st == VHDX_E_MISSING)
            continue;
        if (st != VHDX_OK)
            return st;
        st = join_real(ra, name, real);
        if (st != VHDX_E_MISSING)
            return st;
    }
    return VHDX_E_MISSING;
}

vhdx_status io_path_resolve_parent(const char *child_dir, const char *key, const char *value,
                                   vhdx_io *out, char *resolved, size_t resolved_cap)
{
    return io_path_resolve_parent_in(child_dir, NULL, key, value, out, resolved, resolved_cap);
}

vhdx_status io_path_resolve_parent_in(const char *child_dir, const char *const *allowed,
                                      const char *key, const char *value, vhdx_io *out,
                                      char *resolved, size_t resolved_cap)
{
    char dir[IO_PATH_MAX], rel[IO_PATH_MAX], base[IO_PATH_MAX], real[IO_PATH_MAX];
    bool relative;
    unsigned up = 0;
    vhdx_status st;
    int fd;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (resolved != NULL && resolved_cap > 0)
        resolved[0] = '\0';
    if (child_dir == NULL || key == NULL || value == NULL || out == NULL ||
        (resolved != NULL && resolved_cap == 0))
        return VHDX_E_INVALID_ARG;

    relative = strcmp(key, "relative_path") == 0;
    if (relative)
        st = normalise_relative(value, rel, sizeof(rel), allowed != NULL ? &up : NULL);
    else if (strcmp(key, "absolute_win32_path") == 0 || strcmp(key, "volume_path") == 0)
        st = final_component(value, rel, sizeof(rel));
    else
        st = VHDX_E_INVALID_ARG;
    if (st != VHDX_OK)
        return st;

    st = real_path(child_dir, dir);
    if (st != VHDX_OK)
        return st;
    if (relative) {
        memcpy(base, dir, strlen(dir) + 1);
        climb(base, up);
        st = join_real(base, rel, real);
    } else {
        st = find_component(dir, allowed, rel, real);
    }
    if (st != VHDX_OK)
        return st;
    if (!inside_allowed(dir, allowed, real))
        return VHDX_E_INVALID_ARG;
    if (resolved != NULL && strlen(real) >= resolved_cap)
        return VHDX_E_INVALID_ARG;

    /* realpath() left no symlink: one appearing now is a swap, refused by O_NOFOLLOW. */
    st = open_regular(real, O_RDONLY | O_NOFOLLOW, &fd);
    if (st != VHDX_OK)
        return st;
    if (!fd_names_path(fd, real)) {
        (void)close(fd);
        return VHDX_E_INVALID_ARG;
    }
    st = vhdx_io_from_fd(fd, 0, 1, out);
    if (st != VHDX_OK) {
        (void)close(fd);
        return st;
    }
    if (resolved != NULL)
        memcpy(resolved, real, strlen(real) + 1);
    return VHDX_OK;
}

vhdx_status io_path_open_image(const char *path, int writable, vhdx_io *io, char *dir,
                               size_t dir_cap, char *file, size_t file_cap)
{
    char d[IO_PATH_MAX], real[IO_PATH_MAX];
    vhdx_status st;
    int fd;

    memset(io, 0, sizeof(*io));
    if (path == NULL || path[0] == '\0' || dir == NULL || dir_cap == 0 || file == NULL ||
        file_cap == 0)
        return VHDX_E_INVALID_ARG;
    dir[0] = '\0';
    file[0] = '\0';
    st = open_regular(path, writable ? O_RDWR : O_RDONLY, &fd);
    if (st != VHDX_OK)
        return st;
    /* Parents are resolved in the real directory of the image (SECURITY.md). */
    if (!dir_of(path, d, sizeof(d)) || real_path(d, real) != VHDX_OK ||
        !copy_str(dir, dir_cap, real)) {
        (void)close(fd);
        return VHDX_E_INVALID_ARG;
    }
    /* The file's own real path identifies it in a differencing chain. */
    if (real_path(path, real) != VHDX_OK || !copy_str(file, file_cap, real)) {
        (void)close(fd);
        return VHDX_E_INVALID_ARG;
    }
    st = vhdx_io_from_fd(fd, writable, 1, io);
    if (st != VHDX_OK)
        (void)close(fd);
    return st;
}
