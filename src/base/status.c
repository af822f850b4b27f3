/* Status names and descriptions; the tables are indexed by vhdx_status. */
#include "vhdx.h"

#include "base/compiler.h"

static const char *const status_messages[VHDX_STATUS_COUNT_] = {
    [VHDX_OK] = "success",
    [VHDX_E_TRUNCATED] = "input truncated",
    [VHDX_E_SIGNATURE] = "bad signature",
    [VHDX_E_CHECKSUM] = "checksum mismatch",
    [VHDX_E_VERSION] = "unsupported version",
    [VHDX_E_RESERVED] = "reserved field not zero",
    [VHDX_E_ALIGNMENT] = "misaligned offset or length",
    [VHDX_E_RANGE] = "value out of range",
    [VHDX_E_OVERFLOW] = "arithmetic overflow",
    [VHDX_E_DUPLICATE] = "duplicate entry",
    [VHDX_E_OVERLAP] = "overlapping structures",
    [VHDX_E_MISSING] = "required structure missing",
    [VHDX_E_UNSUPPORTED] = "unsupported required feature",
    [VHDX_E_ENCODING] = "invalid text encoding",
    [VHDX_E_STATE] = "invalid state value",
    [VHDX_E_CORRUPT] = "corrupt structure",
    [VHDX_E_LIMIT] = "limit exceeded",
    [VHDX_E_NOMEM] = "out of memory",
    [VHDX_E_IO] = "I/O error",
    [VHDX_E_INVALID_ARG] = "invalid argument",
    [VHDX_E_BAD_STATE] = "handle in failed state",
    [VHDX_E_CANCELLED] = "cancelled",
};

static const char *const status_names[VHDX_STATUS_COUNT_] = {
    [VHDX_OK] = "OK",
    [VHDX_E_TRUNCATED] = "E_TRUNCATED",
    [VHDX_E_SIGNATURE] = "E_SIGNATURE",
    [VHDX_E_CHECKSUM] = "E_CHECKSUM",
    [VHDX_E_VERSION] = "E_VERSION",
    [VHDX_E_RESERVED] = "E_RESERVED",
    [VHDX_E_ALIGNMENT] = "E_ALIGNMENT",
    [VHDX_E_RANGE] = "E_RANGE",
    [VHDX_E_OVERFLOW] = "E_OVERFLOW",
    [VHDX_E_DUPLICATE] = "E_DUPLICATE",
    [VHDX_E_OVERLAP] = "E_OVERLAP",
    [VHDX_E_MISSING] = "E_MISSING",
    [VHDX_E_UNSUPPORTED] = "E_UNSUPPORTED",
    [VHDX_E_ENCODING] = "E_ENCODING",
    [VHDX_E_STATE] = "E_STATE",
    [VHDX_E_CORRUPT] = "E_CORRUPT",
    [VHDX_E_LIMIT] = "E_LIMIT",
    [VHDX_E_NOMEM] = "E_NOMEM",
    [VHDX_E_IO] = "E_IO",
    [VHDX_E_INVALID_ARG] = "E_INVALID_ARG",
    [VHDX_E_BAD_STATE] = "E_BAD_STATE",
    [VHDX_E_CANCELLED] = "E_CANCELLED",
};

const char *vhdx_strerror(vhdx_status status)
{
    unsigned idx = (unsigned)status;
    if (idx >= (unsigned)VHDX_STATUS_COUNT_)
        return "unknown status";
    return status_messages[idx];
}

const char *vhdx_status_name(vhdx_status status)
{
    unsigned idx = (unsigned)status;
    if (idx >= (unsigned)VHDX_STATUS_COUNT_)
        return "E_UNKNOWN";
    return status_names[idx];
}

const char *vhdx_severity_name(vhdx_severity severity)
{
    switch (severity) {
    case VHDX_SEVERITY_INFO:
        return "info";
    case VHDX_SEVERITY_WARNING:
        return "warning";
    case VHDX_SEVERITY_ERROR:
        return "error";
    default:
        return "unknown";
    }
}

const char *vhdx_version(void)
{
    return VHDX_VERSION_STRING;
}

vhdx_limits vhdx_limits_default(void)
{
    vhdx_limits l = {
        .max_memory = 64u << 20,
        .max_metadata_region = 128u << 20,
        .max_metadata_item = 1u << 20,
        .max_log_length = 0xFFF00000u,
        .max_locator_entries = 256,
        .max_parent_depth = 16,
    };
    return l;
}
