/*
 * vhdx.h: the public interface of the VHDX library.
 *
 * Everything a caller sees is declared here. Status codes and rule ids are
 * stable: a code keeps its number and a rule id keeps its text across
 * releases, so scanners may store and compare them.
 */
#ifndef VHDX_H
#define VHDX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VHDX_VERSION_MAJOR 0
#define VHDX_VERSION_MINOR 1
#define VHDX_VERSION_PATCH 0
#define VHDX_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define VHDX_API __attribute__((visibility("default")))
#define VHDX_MUST_USE __attribute__((warn_unused_result))
#else
#define VHDX_API
#define VHDX_MUST_USE
#endif

/*
 * Status codes. One flat enum; the diagnostic's rule id says which rule of
 * the format was broken, the code says what kind of failure it was.
 * Numbers are stable: new codes are only ever appended.
 */
typedef enum vhdx_status {
    VHDX_OK = 0,
    VHDX_E_TRUNCATED = 1,   /* input shorter than the structure needs */
    VHDX_E_SIGNATURE = 2,   /* wrong signature bytes */
    VHDX_E_CHECKSUM = 3,    /* CRC-32C mismatch */
    VHDX_E_VERSION = 4,     /* unsupported version field */
    VHDX_E_RESERVED = 5,    /* a reserved field or bit is not zero */
    VHDX_E_ALIGNMENT = 6,   /* offset or length not aligned as required */
    VHDX_E_RANGE = 7,       /* value outside the range the format allows */
    VHDX_E_OVERFLOW = 8,    /* offset + length (or similar) overflows 64 bits */
    VHDX_E_DUPLICATE = 9,   /* something that must be unique is repeated */
    VHDX_E_OVERLAP = 10,    /* two structures share bytes */
    VHDX_E_MISSING = 11,    /* a required structure or item is absent */
    VHDX_E_UNSUPPORTED = 12,/* required feature this implementation does not know */
    VHDX_E_ENCODING = 13,   /* text is not valid UTF-16LE or GUID text */
    VHDX_E_STATE = 14,      /* a BAT or log state value that is not allowed */
    VHDX_E_CORRUPT = 15,    /* other structural inconsistency */
    VHDX_E_LIMIT = 16,      /* exceeds a configured vhdx_limits value */
    VHDX_E_NOMEM = 17,      /* the allocator failed */
    VHDX_E_IO = 18,         /* the I/O back end failed */
    VHDX_E_INVALID_ARG = 19,/* the caller passed an invalid argument */
    VHDX_E_BAD_STATE = 20,  /* the handle is in a failed state */
    VHDX_STATUS_COUNT_ = 21
} vhdx_status;

/* A short, constant, human-readable name of the status ("checksum mismatch"). */
VHDX_API const char *vhdx_strerror(vhdx_status status);

/* A stable identifier of the status ("E_CHECKSUM"), for machine output. */
VHDX_API const char *vhdx_status_name(vhdx_status status);

typedef enum vhdx_severity {
    VHDX_SEVERITY_INFO = 0,
    VHDX_SEVERITY_WARNING = 1,
    VHDX_SEVERITY_ERROR = 2
} vhdx_severity;

VHDX_API const char *vhdx_severity_name(vhdx_severity severity);

/* Offset value meaning "no particular file offset". */
#define VHDX_OFFSET_NONE UINT64_MAX

#define VHDX_DIAG_MESSAGE_MAX 192

/*
 * One finding. rule and structure point to static strings owned by the
 * library and valid for the life of the program.
 */
typedef struct vhdx_diag {
    vhdx_status code;
    vhdx_severity severity;
    const char *rule;      /* stable rule id, e.g. "header.checksum" */
    const char *structure; /* e.g. "header", "region table" */
    uint64_t offset;       /* file offset of the offending bytes, or VHDX_OFFSET_NONE */
    char message[VHDX_DIAG_MESSAGE_MAX];
    const char *src_file;  /* where in the library it was detected */
    int src_line;
} vhdx_diag;

/*
 * A caller-supplied allocator. alloc returns NULL on failure; free receives
 * the size that was allocated. Both must be set; if either is NULL, malloc
 * and free are used for both.
 */
typedef struct vhdx_allocator {
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
    void *ctx;
} vhdx_allocator;

/*
 * Limits on what a file may make the library do. Every allocation driven by
 * file contents is checked against these. vhdx_limits_default() gives the
 * documented defaults.
 */
typedef struct vhdx_limits {
    uint64_t max_memory;          /* bytes the library may hold at once: 64 MiB */
    uint32_t max_metadata_region; /* metadata region bytes read: 128 MiB */
    uint32_t max_metadata_item;   /* one metadata item: 1 MiB (the format's maximum) */
    uint32_t max_log_length;      /* log bytes examined: 4095 MiB (the format's maximum) */
    uint32_t max_locator_entries; /* parent locator key/value pairs: 256 */
    uint32_t max_parent_depth;    /* differencing chain length: 16 */
} vhdx_limits;

VHDX_API vhdx_limits vhdx_limits_default(void);

VHDX_API const char *vhdx_version(void);

#ifdef __cplusplus
}
#endif

#endif /* VHDX_H */
