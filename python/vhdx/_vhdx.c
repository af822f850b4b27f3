/*
 * _vhdx: the C half of the `vhdx` Python package, a thin layer over the
 * public interface include/vhdx.h and nothing else.
 *
 * Thread safety: the GIL is released around every library call. A handle
 * carries its own lock, taken (with the GIL released) around every call on
 * it, so one handle may be shared between threads: their calls run one at
 * a time, as include/vhdx.h requires. Different handles run in parallel.
 * A file object given as the source runs its read/seek/write methods with
 * the GIL held, from whichever thread calls the library; one file object
 * must not be shared by handles used from different threads at once
 * (seek and read are two calls).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhdx.h"

/* Findings kept per call; more are counted, not kept. */
#define DIAG_KEEP_MAX 4096

struct diag_buf {
    vhdx_diag *v;
    size_t n;
    size_t cap;
    size_t dropped;
};

/* One Python file object behind a vhdx_io. Owned by the handle (or the call). */
struct pyio {
    PyObject *obj;
    PyObject *exc_type, *exc_value, *exc_tb; /* the first exception it raised */
    struct pyio *next;
};

/* What one open (or check) call keeps while it runs. */
struct call_state {
    struct diag_buf diags;
    struct pyio *ios;         /* every file object io made for this call */
    PyObject *parents;        /* tuple of sources for the opener, or NULL */
    Py_ssize_t served;        /* parents handed out so far */
    PyObject *offered;        /* list of (key, path) the opener was asked for */
    int failed_internal;      /* the opener could not run (no memory) */
};

typedef struct {
    PyObject_HEAD
    vhdx_image *img;
    PyThread_type_lock lock;
    struct call_state *cs;    /* lives as long as the handle: on_diag may run in writes */
    int writable;
} HandleObject;

static PyObject *error_factory; /* vhdx._make_error(status, name, text, rule, offset, message, findings) */

/* ---- findings ---- */

static void diag_collect(void *ctx, const vhdx_diag *d)
{
    struct diag_buf *b = ctx;
    if (b->n == b->cap) {
        size_t cap = b->cap == 0 ? 16 : b->cap * 2;
        vhdx_diag *v;
        if (cap > DIAG_KEEP_MAX || (v = realloc(b->v, cap * sizeof(*v))) == NULL) {
            b->dropped++;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = *d;
}

static void diag_clear(struct diag_buf *b)
{
    b->n = 0;
    b->dropped = 0;
}

static PyObject *offset_obj(uint64_t off)
{
    if (off == VHDX_OFFSET_NONE)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(off);
}

/* (severity, rule, offset, message, status_name, structure) */
static PyObject *diag_tuple(const vhdx_diag *d)
{
    PyObject *off = offset_obj(d->offset);
    if (off == NULL)
        return NULL;
    return Py_BuildValue("(ssNsss)", vhdx_severity_name(d->severity),
                         d->rule != NULL ? d->rule : "", off, d->message,
                         vhdx_status_name(d->code), d->structure != NULL ? d->structure : "");
}

static PyObject *diag_list(const struct diag_buf *b)
{
    PyObject *l = PyList_New((Py_ssize_t)b->n);
    if (l == NULL)
        return NULL;
    for (size_t i = 0; i < b->n; i++) {
        PyObject *t = diag_tuple(&b->v[i]);
        if (t == NULL) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, t);
    }
    return l;
}

/* ---- call state and file object back end ---- */

static struct call_state *call_state_new(void)
{
    struct call_state *cs = calloc(1, sizeof(*cs));
    if (cs == NULL)
        PyErr_NoMemory();
    return cs;
}

static void pyio_clear_exc(struct pyio *p)
{
    Py_CLEAR(p->exc_type);
    Py_CLEAR(p->exc_value);
    Py_CLEAR(p->exc_tb);
}

/* Needs the GIL. */
static void call_state_free(struct call_state *cs)
{
    if (cs == NULL)
        return;
    while (cs->ios != NULL) {
        struct pyio *p = cs->ios;
        cs->ios = p->next;
        pyio_clear_exc(p);
        Py_XDECREF(p->obj);
        free(p);
    }
    Py_XDECREF(cs->parents);
    Py_XDECREF(cs->offered);
    free(cs->diags.v);
    free(cs);
}

/* Records the pending Python exception in p (the first one wins). GIL held. */
static void pyio_keep_exc(struct pyio *p)
{
    if (p->exc_type == NULL)
        PyErr_Fetch(&p->exc_type, &p->exc_value, &p->exc_tb);
    else
        PyErr_Clear();
}

static vhdx_status pyio_seek(struct pyio *p, uint64_t off)
{
    PyObject *r = PyObject_CallMethod(p->obj, "seek", "Ki", (unsigned long long)off, 0);
    if (r == NULL) {
        pyio_keep_exc(p);
        return VHDX_E_IO;
    }
    Py_DECREF(r);
    return VHDX_OK;
}

static vhdx_status pyio_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct pyio *p = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    vhdx_status st = pyio_seek(p, off);
    size_t done = 0;

    while (st == VHDX_OK && done < len) {
        size_t want = len - done;
        PyObject *data;
        Py_ssize_t n;
        if (want > (size_t)PY_SSIZE_T_MAX)
            want = (size_t)PY_SSIZE_T_MAX;
        data = PyObject_CallMethod(p->obj, "read", "n", (Py_ssize_t)want);
        if (data == NULL) {
            pyio_keep_exc(p);
            st = VHDX_E_IO;
            break;
        }
        if (!PyBytes_Check(data)) {
            Py_DECREF(data);
            PyErr_SetString(PyExc_TypeError, "the file object's read() did not return bytes");
            pyio_keep_exc(p);
            st = VHDX_E_IO;
            break;
        }
        n = PyBytes_GET_SIZE(data);
        if ((size_t)n > want) {
            Py_DECREF(data);
            PyErr_SetString(PyExc_ValueError, "the file object's read() returned too many bytes");
            pyio_keep_exc(p);
            st = VHDX_E_IO;
            break;
        }
        memcpy((char *)buf + done, PyBytes_AS_STRING(data), (size_t)n);
        Py_DECREF(data);
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    PyGILState_Release(g);
    return st;
}

static vhdx_status pyio_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct pyio *p = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    vhdx_status st = pyio_seek(p, off);
    size_t done = 0;

    while (st == VHDX_OK && done < len) {
        PyObject *mv, *r;
        Py_ssize_t n;
        /* PyBUF_READ: the view never writes; the API just lacks const. */
        mv = PyMemoryView_FromMemory((char *)(uintptr_t)buf + done, (Py_ssize_t)(len - done),
                                     PyBUF_READ);
        if (mv == NULL) {
            pyio_keep_exc(p);
            st = VHDX_E_IO;
            break;
        }
        r = PyObject_CallMethod(p->obj, "write", "O", mv);
        Py_DECREF(mv);
        if (r == NULL) {
            pyio_keep_exc(p);
            st = VHDX_E_IO;
            break;
        }
        n = r == Py_None ? 0 : PyLong_AsSsize_t(r);
        Py_DECREF(r);
        if (n <= 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_OSError, "the file object's write() wrote nothing");
            pyio_keep_exc(p);
            st = VHDX_E_IO;
            break;
        }
        done += (size_t)n;
    }
    PyGILState_Release(g);
    return st;
}

static vhdx_status pyio_flush(void *ctx)
{
    struct pyio *p = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    vhdx_status st = VHDX_OK;
    PyObject *r = PyObject_CallMethod(p->obj, "flush", NULL);
    if (r == NULL) {
        pyio_keep_exc(p);
        st = VHDX_E_IO;
    } else {
        Py_DECREF(r);
        /* A real file: make the flush durable, as the fd back end does. */
        r = PyObject_CallMethod(p->obj, "fileno", NULL);
        if (r == NULL) {
            PyErr_Clear();
        } else {
            long v = PyLong_AsLong(r);
            Py_DECREF(r);
            if (PyErr_Occurred()) {
                PyErr_Clear();
            } else if (v >= 0 && v <= INT_MAX) {
                int rc;
                Py_BEGIN_ALLOW_THREADS rc = fsync((int)v);
                Py_END_ALLOW_THREADS
                if (rc != 0) {
                    PyErr_SetFromErrno(PyExc_OSError);
                    pyio_keep_exc(p);
                    st = VHDX_E_IO;
                }
            }
        }
    }
    PyGILState_Release(g);
    return st;
}

static vhdx_status pyio_size(void *ctx, uint64_t *size)
{
    struct pyio *p = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    vhdx_status st = VHDX_OK;
    PyObject *r;
    /*
     * dfvfs's file objects have get_size() and a seek() that returns None
     * (libbfio asks them the same way); io objects return the new offset.
     */
    if (PyObject_HasAttrString(p->obj, "get_size")) {
        r = PyObject_CallMethod(p->obj, "get_size", NULL);
    } else {
        r = PyObject_CallMethod(p->obj, "seek", "ii", 0, 2);
        if (r == Py_None) {
            Py_DECREF(r);
            r = PyObject_CallMethod(p->obj, "tell", NULL);
        }
    }
    if (r != NULL) {
        unsigned long long v = PyLong_AsUnsignedLongLong(r);
        Py_DECREF(r);
        if (v == (unsigned long long)-1 && PyErr_Occurred())
            r = NULL;
        else
            *size = v;
    }
    if (r == NULL) {
        pyio_keep_exc(p);
        st = VHDX_E_IO;
    }
    PyGILState_Release(g);
    return st;
}

static vhdx_status pyio_truncate(void *ctx, uint64_t size)
{
    struct pyio *p = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    vhdx_status st = VHDX_OK;
    PyObject *r = PyObject_CallMethod(p->obj, "truncate", "K", (unsigned long long)size);
    if (r == NULL) {
        pyio_keep_exc(p);
        st = VHDX_E_IO;
    } else {
        Py_DECREF(r);
    }
    PyGILState_Release(g);
    if (st == VHDX_OK) {
        /* io.BytesIO.truncate never extends: a zero byte at the new end does. */
        uint64_t now = 0;
        st = pyio_size(ctx, &now);
        if (st == VHDX_OK && now < size)
            st = pyio_write(ctx, "", 1, size - 1);
    }
    return st;
}

/* A vhdx_io over a file object; the pyio is owned by cs. GIL held. */
static int pyio_make(struct call_state *cs, PyObject *obj, int writable, vhdx_io *io)
{
    struct pyio *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(obj);
    p->obj = obj;
    p->next = cs->ios;
    cs->ios = p;
    memset(io, 0, sizeof(*io));
    io->ctx = p;
    io->read = pyio_read;
    io->size = pyio_size;
    if (writable) {
        io->write = pyio_write;
        io->flush = pyio_flush;
        io->truncate = pyio_truncate;
    }
    return 0;
}

/* The first exception a file object raised during the call, taken out (new refs). */
static int take_io_exc(struct call_state *cs, PyObject **t, PyObject **v, PyObject **tb)
{
    int found = 0;
    for (struct pyio *p = cs->ios; p != NULL; p = p->next) {
        if (p->exc_type != NULL && !found) {
            *t = p->exc_type;
            *v = p->exc_value;
            *tb = p->exc_tb;
            p->exc_type = p->exc_value = p->exc_tb = NULL;
            found = 1;
        }
        pyio_clear_exc(p);
    }
    return found;
}

/* ---- errors ---- */

/*
 * Raises the vhdx.Error subclass for st, carrying the rule id and offset of
 * the finding that explains it (the first error with the same status, else
 * the first error), the findings, and a file object's exception as __cause__.
 */
static PyObject *raise_status(vhdx_status st, struct call_state *cs)
{
    const vhdx_diag *why = NULL;
    PyObject *findings, *exc, *off, *et = NULL, *ev = NULL, *etb = NULL;
    int have_cause = 0;

    if (cs != NULL) {
        for (size_t i = 0; i < cs->diags.n && why == NULL; i++)
            if (cs->diags.v[i].severity == VHDX_SEVERITY_ERROR && cs->diags.v[i].code == st)
                why = &cs->diags.v[i];
        for (size_t i = 0; i < cs->diags.n && why == NULL; i++)
            if (cs->diags.v[i].severity == VHDX_SEVERITY_ERROR)
                why = &cs->diags.v[i];
        have_cause = take_io_exc(cs, &et, &ev, &etb);
    }
    if (error_factory == NULL) {
        PyErr_Format(PyExc_OSError, "%s", vhdx_strerror(st));
        goto out;
    }
    findings = cs != NULL ? diag_list(&cs->diags) : PyList_New(0);
    if (findings == NULL)
        goto out;
    off = why != NULL ? offset_obj(why->offset) : (Py_INCREF(Py_None), Py_None);
    if (off == NULL) {
        Py_DECREF(findings);
        goto out;
    }
    exc = PyObject_CallFunction(error_factory, "isszNsN", (int)st, vhdx_status_name(st),
                                vhdx_strerror(st), why != NULL ? why->rule : NULL, off,
                                why != NULL ? why->message : vhdx_strerror(st), findings);
    if (exc == NULL)
        goto out;
    if (have_cause) {
        PyErr_NormalizeException(&et, &ev, &etb);
        if (ev != NULL && etb != NULL)
            PyException_SetTraceback(ev, etb);
        if (ev != NULL)
            PyException_SetCause(exc, ev); /* steals ev */
        ev = NULL;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
out:
    Py_XDECREF(et);
    Py_XDECREF(ev);
    Py_XDECREF(etb);
    if (cs != NULL)
        diag_clear(&cs->diags);
    return NULL;
}

/* ---- sources: a path (str, bytes, os.PathLike) or a file object ---- */

static int is_path(PyObject *o)
{
    return PyUnicode_Check(o) || PyBytes_Check(o) || PyObject_HasAttrString(o, "__fspath__");
}

/* A vhdx_io over a source; GIL held. Returns a status; sets no Python error
   for VHDX_E_MISSING / VHDX_E_IO from the file system. */
static vhdx_status source_io(struct call_state *cs, PyObject *src, int writable, vhdx_io *io)
{
    if (is_path(src)) {
        PyObject *b = NULL;
        int fd;
        vhdx_status st;
        if (!PyUnicode_FSConverter(src, &b))
            return VHDX_E_INVALID_ARG;
        fd = open(PyBytes_AS_STRING(b), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        Py_DECREF(b);
        if (fd < 0)
            return errno == ENOENT ? VHDX_E_MISSING : VHDX_E_IO;
        st = vhdx_io_from_fd(fd, writable, 1, io);
        if (st != VHDX_OK)
            close(fd);
        return st;
    }
    if (pyio_make(cs, src, writable, io) != 0) {
        PyErr_Clear();
        return VHDX_E_NOMEM;
    }
    return VHDX_OK;
}

/* The parent opener: hands out cs->parents in order, one per chain level. */
static vhdx_status opener(void *ctx, const char *key, const char *path, vhdx_io *out)
{
    struct call_state *cs = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    vhdx_status st = VHDX_E_MISSING;

    if (cs->offered != NULL) {
        PyObject *t = Py_BuildValue("(ss)", key, path);
        if (t == NULL || PyList_Append(cs->offered, t) != 0)
            PyErr_Clear();
        Py_XDECREF(t);
    }
    if (cs->parents != NULL && cs->served < PyTuple_GET_SIZE(cs->parents)) {
        st = source_io(cs, PyTuple_GET_ITEM(cs->parents, cs->served), 0, out);
        if (st == VHDX_OK)
            cs->served++;
    }
    PyGILState_Release(g);
    return st;
}

/* ---- Handle ---- */

static PyTypeObject HandleType;

#define LOCKED_CALL(h, stmt)                                                                   \
    do {                                                                                       \
        Py_BEGIN_ALLOW_THREADS PyThread_acquire_lock((h)->lock, WAIT_LOCK);                    \
        stmt;                                                                                  \
        PyThread_release_lock((h)->lock);                                                      \
        Py_END_ALLOW_THREADS                                                                   \
    } while (0)

static HandleObject *handle_new(void)
{
    HandleObject *h = PyObject_New(HandleObject, &HandleType);
    if (h == NULL)
        return NULL;
    h->img = NULL;
    h->writable = 0;
    h->cs = NULL;
    h->lock = PyThread_allocate_lock();
    if (h->lock == NULL) {
        Py_DECREF(h);
        return (HandleObject *)PyErr_NoMemory();
    }
    h->cs = call_state_new();
    if (h->cs == NULL) {
        Py_DECREF(h);
        return NULL;
    }
    return h;
}

static void handle_close_img(HandleObject *h)
{
    vhdx_image *img = h->img;
    h->img = NULL;
    if (img != NULL) {
        /* The file object back ends take the GIL themselves. */
        Py_BEGIN_ALLOW_THREADS vhdx_close(img);
        Py_END_ALLOW_THREADS
    }
}

static void handle_dealloc(HandleObject *h)
{
    if (h->lock != NULL) {
        handle_close_img(h);
        PyThread_free_lock(h->lock);
    }
    call_state_free(h->cs);
    PyObject_Free(h);
}

/* Takes the image out under the lock; NULL with ValueError when closed. */
static int check_open(HandleObject *h)
{
    if (h->img == NULL) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on a closed VHDX image");
        return -1;
    }
    return 0;
}

static PyObject *h_close(HandleObject *h, PyObject *unused)
{
    vhdx_image *img = NULL;
    (void)unused;
    Py_BEGIN_ALLOW_THREADS PyThread_acquire_lock(h->lock, WAIT_LOCK);
    img = h->img;
    h->img = NULL;
    PyThread_release_lock(h->lock);
    if (img != NULL)
        vhdx_close(img);
    Py_END_ALLOW_THREADS
    diag_clear(&h->cs->diags);
    for (struct pyio *p = h->cs->ios; p != NULL; p = p->next)
        pyio_clear_exc(p);
    Py_RETURN_NONE;
}

static PyObject *h_closed(HandleObject *h, void *unused)
{
    (void)unused;
    return PyBool_FromLong(h->img == NULL);
}

/* read(offset, size) -> bytes */
static PyObject *h_read(HandleObject *h, PyObject *args)
{
    unsigned long long off;
    Py_ssize_t n;
    PyObject *b;
    vhdx_status st = VHDX_OK;
    if (!PyArg_ParseTuple(args, "Kn", &off, &n))
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "negative read size");
        return NULL;
    }
    b = PyBytes_FromStringAndSize(NULL, n);
    if (b == NULL)
        return NULL;
    if (check_open(h) != 0) {
        Py_DECREF(b);
        return NULL;
    }
    {
        char *p = PyBytes_AS_STRING(b);
        LOCKED_CALL(h, st = h->img != NULL ? vhdx_read(h->img, off, p, (size_t)n)
                                           : VHDX_E_BAD_STATE);
    }
    if (st != VHDX_OK) {
        Py_DECREF(b);
        return raise_status(st, h->cs);
    }
    return b;
}

/* readinto(offset, buffer) -> len(buffer) */
static PyObject *h_readinto(HandleObject *h, PyObject *args)
{
    unsigned long long off;
    Py_buffer buf;
    vhdx_status st = VHDX_OK;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "Kw*", &off, &buf))
        return NULL;
    if (check_open(h) != 0) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    n = buf.len;
    LOCKED_CALL(h, st = h->img != NULL ? vhdx_read(h->img, off, buf.buf, (size_t)buf.len)
                                       : VHDX_E_BAD_STATE);
    PyBuffer_Release(&buf);
    if (st != VHDX_OK)
        return raise_status(st, h->cs);
    return PyLong_FromSsize_t(n);
}

/* write(offset, buffer) -> len(buffer) */
static PyObject *h_write(HandleObject *h, PyObject *args)
{
    unsigned long long off;
    Py_buffer buf;
    vhdx_status st = VHDX_OK;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "Ky*", &off, &buf))
        return NULL;
    if (check_open(h) != 0) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    n = buf.len;
    LOCKED_CALL(h, st = h->img != NULL ? vhdx_write(h->img, off, buf.buf, (size_t)buf.len)
                                       : VHDX_E_BAD_STATE);
    PyBuffer_Release(&buf);
    if (st != VHDX_OK)
        return raise_status(st, h->cs);
    return PyLong_FromSsize_t(n);
}

static PyObject *h_write_zeroes(HandleObject *h, PyObject *args)
{
    unsigned long long off, len;
    vhdx_status st = VHDX_OK;
    if (!PyArg_ParseTuple(args, "KK", &off, &len) || check_open(h) != 0)
        return NULL;
    LOCKED_CALL(h, st = h->img != NULL ? vhdx_write_zeroes(h->img, off, len) : VHDX_E_BAD_STATE);
    if (st != VHDX_OK)
        return raise_status(st, h->cs);
    Py_RETURN_NONE;
}

static PyObject *h_discard(HandleObject *h, PyObject *args)
{
    unsigned long long off, len;
    uint64_t done = 0;
    vhdx_status st = VHDX_OK;
    if (!PyArg_ParseTuple(args, "KK", &off, &len) || check_open(h) != 0)
        return NULL;
    LOCKED_CALL(h, st = h->img != NULL ? vhdx_discard(h->img, off, len, &done)
                                       : VHDX_E_BAD_STATE);
    if (st != VHDX_OK)
        return raise_status(st, h->cs);
    return PyLong_FromUnsignedLongLong(done);
}

static PyObject *h_flush(HandleObject *h, PyObject *unused)
{
    vhdx_status st = VHDX_OK;
    (void)unused;
    if (check_open(h) != 0)
        return NULL;
    LOCKED_CALL(h, st = h->img != NULL ? vhdx_flush(h->img) : VHDX_E_BAD_STATE);
    if (st != VHDX_OK)
        return raise_status(st, h->cs);
    Py_RETURN_NONE;
}

static PyObject *h_finish(HandleObject *h, PyObject *unused)
{
    vhdx_status st = VHDX_OK;
    (void)unused;
    if (check_open(h) != 0)
        return NULL;
    LOCKED_CALL(h, st = h->img != NULL ? vhdx_finish(h->img) : VHDX_E_BAD_STATE);
    if (st != VHDX_OK)
        return raise_status(st, h->cs);
    Py_RETURN_NONE;
}

static PyObject *h_resize(HandleObject *h, PyObject *args)
{
    unsigned long long size;
    int force = 0;
    vhdx_status st = VHDX_OK;
    if (!PyArg_ParseTuple(args, "K|p", &size, &force) || check_open(h) != 0)
        return NULL;
    LOCKED_CALL(h, st = h->img != NULL
                            ? vhdx_resize(h->img, size, force ? VHDX_RESIZE_FORCE : 0u)
                            : VHDX_E_BAD_STATE);
    if (st != VHDX_OK)
        return raise_status(st, h->cs);
    Py_RETURN_NONE;
}

/* map_next(offset) -> (offset, length, kind, bat_state, file_offset|None) */
static PyObject *h_map_next(HandleObject *h, PyObject *args)
{
    unsigned long long off;
    vhdx_extent e;
    vhdx_status st = VHDX_OK;
    if (!PyArg_ParseTuple(args, "K", &off) || check_open(h) != 0)
        return NULL;
    memset(&e, 0, sizeof(e));
    LOCKED_CALL(h, st = h->img != NULL ? vhdx_map_next(h->img, off, &e) : VHDX_E_BAD_STATE);
    if (st != VHDX_OK)
        return raise_status(st, h->cs);
    return Py_BuildValue("(KKiiN)", (unsigned long long)e.offset, (unsigned long long)e.length,
                         (int)e.kind, (int)e.bat_state,
                         e.kind == VHDX_EXTENT_DATA ? PyLong_FromUnsignedLongLong(e.file_offset)
                                                    : (Py_INCREF(Py_None), Py_None));
}

static PyObject *opt_str(const char *s)
{
    if (s[0] == '\0')
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

static PyObject *h_info(HandleObject *h, PyObject *unused)
{
    vhdx_info *i;
    vhdx_status st = VHDX_OK;
    PyObject *d;
    (void)unused;
    if (check_open(h) != 0)
        return NULL;
    i = PyMem_Malloc(sizeof(*i)); /* 5 KiB: not on the stack */
    if (i == NULL)
        return PyErr_NoMemory();
    LOCKED_CALL(h, st = h->img != NULL ? vhdx_get_info(h->img, i) : VHDX_E_BAD_STATE);
    if (st != VHDX_OK) {
        PyMem_Free(i);
        return raise_status(st, h->cs);
    }
    d = Py_BuildValue(
        "{sisKsKsIsIsIsIsKsKsKsisNsssssssssKsIsisisIsKsNsNsI}", "type", (int)i->type,
        "virtual_size", (unsigned long long)i->virtual_size, "file_size",
        (unsigned long long)i->file_size, "block_size", i->block_size, "logical_sector_size",
        i->logical_sector_size, "physical_sector_size", i->physical_sector_size, "chunk_ratio",
        i->chunk_ratio, "bat_entries", (unsigned long long)i->bat_entries, "blocks_allocated",
        (unsigned long long)i->blocks_allocated, "header_sequence",
        (unsigned long long)i->header_sequence, "current_header", i->current_header, "creator",
        PyUnicode_DecodeUTF8(i->creator, (Py_ssize_t)strnlen(i->creator, sizeof(i->creator)),
                             "replace"),
        "file_write_guid", i->file_write_guid, "data_write_guid", i->data_write_guid,
        "log_guid", i->log_guid, "virtual_disk_id", i->virtual_disk_id, "log_offset",
        (unsigned long long)i->log_offset, "log_length", i->log_length, "log_dirty",
        i->log_dirty, "log_replay", i->log_replay, "log_entries_replayed",
        i->log_entries_replayed, "log_head_sequence", (unsigned long long)i->log_head_sequence,
        "parent_linkage",
        i->type == VHDX_DISK_DIFFERENCING ? opt_str(i->parent_linkage)
                                          : (Py_INCREF(Py_None), Py_None),
        "parent_path", opt_str(i->parent_path), "chain_depth", i->chain_depth);
    PyMem_Free(i);
    return d;
}

static PyMethodDef handle_methods[] = {
    {"read", (PyCFunction)h_read, METH_VARARGS, "read(offset, size) -> bytes"},
    {"readinto", (PyCFunction)h_readinto, METH_VARARGS, "readinto(offset, buffer) -> int"},
    {"write", (PyCFunction)h_write, METH_VARARGS, "write(offset, buffer) -> int"},
    {"write_zeroes", (PyCFunction)h_write_zeroes, METH_VARARGS, "write_zeroes(offset, length)"},
    {"discard", (PyCFunction)h_discard, METH_VARARGS, "discard(offset, length) -> bytes discarded"},
    {"flush", (PyCFunction)h_flush, METH_NOARGS, "flush()"},
    {"finish", (PyCFunction)h_finish, METH_NOARGS, "finish()"},
    {"resize", (PyCFunction)h_resize, METH_VARARGS, "resize(size, force=False)"},
    {"map_next", (PyCFunction)h_map_next, METH_VARARGS,
     "map_next(offset) -> (offset, length, kind, bat_state, file_offset)"},
    {"info", (PyCFunction)h_info, METH_NOARGS, "info() -> dict"},
    {"close", (PyCFunction)h_close, METH_NOARGS, "close()"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef handle_getset[] = {
    {"closed", (getter)h_closed, NULL, "True once closed", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject HandleType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vhdx._vhdx.Handle",
    .tp_basicsize = sizeof(HandleObject),
    .tp_dealloc = (destructor)handle_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An open VHDX image (vhdx_image). Calls on one handle are serialised by its "
              "own lock; the GIL is released while the library runs.",
    .tp_methods = handle_methods,
    .tp_getset = handle_getset,
};

/* ---- module functions ---- */

/* Fills opts and limits from the common keyword arguments. */
struct open_args {
    PyObject *source;
    int writable;
    int no_parent;
    PyObject *parent_dirs; /* sequence of paths */
    PyObject *parents;     /* sequence of sources, or None */
    PyObject *max_memory;  /* int or None */
    int record_offers;
};

struct dirs {
    PyObject *bytes_list;  /* list of bytes objects kept alive */
    const char **v;
};

static void dirs_free(struct dirs *d)
{
    Py_XDECREF(d->bytes_list);
    PyMem_Free(d->v);
}

static int dirs_make(PyObject *seq, struct dirs *d)
{
    PyObject *fast;
    Py_ssize_t n;
    d->bytes_list = NULL;
    d->v = NULL;
    if (seq == NULL || seq == Py_None)
        return 0;
    fast = PySequence_Fast(seq, "parent_dirs must be a sequence of paths");
    if (fast == NULL)
        return -1;
    n = PySequence_Fast_GET_SIZE(fast);
    d->bytes_list = PyList_New(0);
    d->v = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    if (d->bytes_list == NULL || d->v == NULL) {
        Py_DECREF(fast);
        if (d->v == NULL)
            PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = NULL;
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(fast, i), &b) ||
            PyList_Append(d->bytes_list, b) != 0) {
            Py_XDECREF(b);
            Py_DECREF(fast);
            return -1;
        }
        d->v[i] = PyBytes_AS_STRING(b);
        Py_DECREF(b);
    }
    Py_DECREF(fast);
    return 0;
}

static int limits_make(PyObject *max_memory, vhdx_limits *lim)
{
    *lim = vhdx_limits_default();
    if (max_memory != NULL && max_memory != Py_None) {
        unsigned long long v = PyLong_AsUnsignedLongLong(max_memory);
        if (v == (unsigned long long)-1 && PyErr_Occurred())
            return -1;
        lim->max_memory = v;
    }
    return 0;
}

/*
 * open(source, writable=False, parent_dirs=(), parents=None, no_parent=False,
 *      max_memory=None, record_offers=False) -> (handle, findings, offers)
 */
static PyObject *m_open(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"source", "writable", "parent_dirs", "parents", "no_parent",
                             "max_memory", "record_offers", NULL};
    struct open_args a = {NULL, 0, 0, NULL, Py_None, Py_None, 0};
    vhdx_open_options opts;
    vhdx_limits lim;
    struct dirs dirs = {NULL, NULL};
    HandleObject *h;
    vhdx_status st = VHDX_OK;
    vhdx_image *img = NULL;
    PyObject *findings, *offers, *path_bytes = NULL;
    vhdx_io io;
    (void)self;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|pOOpOp", kwlist, &a.source, &a.writable,
                                     &a.parent_dirs, &a.parents, &a.no_parent, &a.max_memory,
                                     &a.record_offers))
        return NULL;
    if (limits_make(a.max_memory, &lim) != 0)
        return NULL;
    h = handle_new();
    if (h == NULL)
        return NULL;
    h->writable = a.writable;
    memset(&opts, 0, sizeof(opts));
    opts.flags = (a.writable ? VHDX_OPEN_WRITABLE : 0u) | (a.no_parent ? VHDX_OPEN_NO_PARENT : 0u);
    opts.limits = &lim;
    opts.on_diag = diag_collect;
    opts.diag_ctx = &h->cs->diags;
    if (a.parents != Py_None) {
        h->cs->parents = PySequence_Tuple(a.parents);
        if (h->cs->parents == NULL)
            goto fail;
    }
    if (a.parents != Py_None || a.record_offers) {
        opts.open_parent = opener;
        opts.open_parent_ctx = h->cs;
    }
    if (a.record_offers && (h->cs->offered = PyList_New(0)) == NULL)
        goto fail;
    if (dirs_make(a.parent_dirs, &dirs) != 0)
        goto fail;
    opts.parent_dirs = dirs.v;

    if (is_path(a.source) && opts.open_parent == NULL) {
        const char *p;
        if (!PyUnicode_FSConverter(a.source, &path_bytes))
            goto fail;
        p = PyBytes_AS_STRING(path_bytes);
        Py_BEGIN_ALLOW_THREADS st = vhdx_open_path(p, &opts, &img);
        Py_END_ALLOW_THREADS
    } else {
        st = source_io(h->cs, a.source, a.writable, &io);
        if (st == VHDX_OK) {
            Py_BEGIN_ALLOW_THREADS st = vhdx_open(&io, &opts, &img);
            Py_END_ALLOW_THREADS
        } else if (PyErr_Occurred()) {
            goto fail;
        }
    }
    Py_XDECREF(path_bytes);
    path_bytes = NULL;
    dirs_free(&dirs);
    dirs.bytes_list = NULL;
    dirs.v = NULL;
    if (st != VHDX_OK) {
        if (h->cs->offered != NULL && st == VHDX_E_MISSING && a.record_offers) {
            /* Only the offers were wanted (the parent locator's paths). */
            offers = h->cs->offered;
            Py_INCREF(offers);
            Py_DECREF(h);
            return Py_BuildValue("(OON)", Py_None, Py_None, offers);
        }
        raise_status(st, h->cs);
        goto fail;
    }
    h->img = img;
    /* The opener's parents are no longer needed: their ios are open. */
    Py_CLEAR(h->cs->parents);
    findings = diag_list(&h->cs->diags);
    diag_clear(&h->cs->diags);
    if (findings == NULL)
        goto fail;
    offers = h->cs->offered != NULL ? h->cs->offered : Py_None;
    Py_INCREF(offers);
    Py_CLEAR(h->cs->offered);
    return Py_BuildValue("(NNN)", (PyObject *)h, findings, offers);
fail:
    Py_XDECREF(path_bytes);
    dirs_free(&dirs);
    Py_DECREF(h);
    return NULL;
}

/* check(source, parent_dirs=(), max_memory=None) -> (errors, warnings, infos, first_error, findings) */
static PyObject *m_check(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"source", "parent_dirs", "max_memory", NULL};
    PyObject *source, *parent_dirs = NULL, *max_memory = Py_None, *findings, *r = NULL;
    vhdx_open_options opts;
    vhdx_limits lim;
    vhdx_check_result res;
    struct dirs dirs = {NULL, NULL};
    struct call_state *cs;
    vhdx_status st = VHDX_OK;
    (void)self;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO", kwlist, &source, &parent_dirs,
                                     &max_memory))
        return NULL;
    if (limits_make(max_memory, &lim) != 0)
        return NULL;
    cs = call_state_new();
    if (cs == NULL)
        return NULL;
    if (dirs_make(parent_dirs, &dirs) != 0)
        goto out;
    memset(&opts, 0, sizeof(opts));
    memset(&res, 0, sizeof(res));
    opts.limits = &lim;
    opts.parent_dirs = dirs.v;
    opts.on_diag = diag_collect;
    opts.diag_ctx = &cs->diags;
    if (is_path(source)) {
        PyObject *b = NULL;
        const char *p;
        if (!PyUnicode_FSConverter(source, &b))
            goto out;
        p = PyBytes_AS_STRING(b);
        Py_BEGIN_ALLOW_THREADS st = vhdx_check_path(p, &opts, &res);
        Py_END_ALLOW_THREADS
        Py_DECREF(b);
    } else {
        vhdx_io io;
        st = source_io(cs, source, 0, &io);
        if (st == VHDX_OK) {
            Py_BEGIN_ALLOW_THREADS st = vhdx_check(&io, &opts, &res);
            Py_END_ALLOW_THREADS
        }
        if (PyErr_Occurred())
            goto out;
    }
    if (st != VHDX_OK) {
        raise_status(st, cs);
        goto out;
    }
    findings = diag_list(&cs->diags);
    if (findings == NULL)
        goto out;
    r = Py_BuildValue("(nnnsN)", (Py_ssize_t)res.errors, (Py_ssize_t)res.warnings,
                      (Py_ssize_t)res.infos, vhdx_status_name(res.first_error), findings);
out:
    dirs_free(&dirs);
    call_state_free(cs);
    return r;
}

/*
 * create(target, type, virtual_size, block_size=0, log_size=0, logical_sector_size=0,
 *        physical_sector_size=0, parent_path=None, creator=None)
 * target is a path (vhdx_create_path) or an empty writable file object (vhdx_create).
 */
static PyObject *m_create(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"target", "type", "virtual_size", "block_size", "log_size",
                             "logical_sector_size", "physical_sector_size", "parent_path",
                             "creator", NULL};
    PyObject *target, *parent = Py_None, *pb = NULL, *tb = NULL;
    const char *creator = NULL;
    int type;
    unsigned long long vsize;
    unsigned int bs = 0, ls = 0, lss = 0, pss = 0;
    vhdx_create_options o;
    vhdx_status st = VHDX_OK;
    struct call_state *cs;
    PyObject *r = NULL;
    (void)self;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "OiK|IIIIOz", kwlist, &target, &type, &vsize,
                                     &bs, &ls, &lss, &pss, &parent, &creator))
        return NULL;
    cs = call_state_new();
    if (cs == NULL)
        return NULL;
    memset(&o, 0, sizeof(o));
    o.type = (vhdx_disk_type)type;
    o.virtual_size = vsize;
    o.block_size = bs;
    o.log_size = ls;
    o.logical_sector_size = lss;
    o.physical_sector_size = pss;
    o.creator = creator;
    if (parent != Py_None && !PyUnicode_FSConverter(parent, &pb))
        goto out;
    if (is_path(target)) {
        const char *t, *p = pb != NULL ? PyBytes_AS_STRING(pb) : NULL;
        if (!PyUnicode_FSConverter(target, &tb))
            goto out;
        t = PyBytes_AS_STRING(tb);
        Py_BEGIN_ALLOW_THREADS st = vhdx_create_path(t, &o, p, NULL);
        Py_END_ALLOW_THREADS
    } else {
        vhdx_io io;
        if (pb != NULL) {
            PyErr_SetString(PyExc_ValueError,
                            "a differencing image is created at a path (parent_path)");
            goto out;
        }
        if (pyio_make(cs, target, 1, &io) != 0)
            goto out;
        Py_BEGIN_ALLOW_THREADS st = vhdx_create(&io, &o);
        Py_END_ALLOW_THREADS
    }
    if (st != VHDX_OK) {
        raise_status(st, cs);
        goto out;
    }
    r = Py_None;
    Py_INCREF(r);
out:
    Py_XDECREF(pb);
    Py_XDECREF(tb);
    call_state_free(cs);
    return r;
}

static PyObject *m_set_error_factory(PyObject *self, PyObject *f)
{
    (void)self;
    Py_XSETREF(error_factory, Py_NewRef(f));
    Py_RETURN_NONE;
}

static PyObject *m_version(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(vhdx_version());
}

static PyObject *m_status_names(PyObject *self, PyObject *unused)
{
    PyObject *d = PyDict_New();
    (void)self;
    (void)unused;
    if (d == NULL)
        return NULL;
    for (int i = 0; i < VHDX_STATUS_COUNT_; i++) {
        PyObject *k = PyLong_FromLong(i);
        PyObject *v = PyUnicode_FromString(vhdx_status_name((vhdx_status)i));
        if (k == NULL || v == NULL || PyDict_SetItem(d, k, v) != 0) {
            Py_XDECREF(k);
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    return d;
}

static PyMethodDef module_methods[] = {
    {"open", (PyCFunction)(void (*)(void))m_open, METH_VARARGS | METH_KEYWORDS,
     "open(source, writable=False, parent_dirs=(), parents=None, no_parent=False, "
     "max_memory=None, record_offers=False) -> (handle, findings, offers)"},
    {"check", (PyCFunction)(void (*)(void))m_check, METH_VARARGS | METH_KEYWORDS,
     "check(source, parent_dirs=(), max_memory=None) -> (errors, warnings, infos, "
     "first_error, findings)"},
    {"create", (PyCFunction)(void (*)(void))m_create, METH_VARARGS | METH_KEYWORDS,
     "create(target, type, virtual_size, ...)"},
    {"_set_error_factory", m_set_error_factory, METH_O, "internal"},
    {"version", m_version, METH_NOARGS, "the C library's version"},
    {"status_names", m_status_names, METH_NOARGS, "{code: 'E_...'}"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "vhdx._vhdx",
    "The C half of the vhdx package: include/vhdx.h for Python. Use the vhdx module.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__vhdx(void);

PyMODINIT_FUNC PyInit__vhdx(void)
{
    PyObject *m;
    if (PyType_Ready(&HandleType) < 0)
        return NULL;
    m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    Py_INCREF(&HandleType);
    if (PyModule_AddObject(m, "Handle", (PyObject *)&HandleType) < 0 ||
        PyModule_AddIntConstant(m, "FIXED", VHDX_DISK_FIXED) < 0 ||
        PyModule_AddIntConstant(m, "DYNAMIC", VHDX_DISK_DYNAMIC) < 0 ||
        PyModule_AddIntConstant(m, "DIFFERENCING", VHDX_DISK_DIFFERENCING) < 0) {
        Py_DECREF(&HandleType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
