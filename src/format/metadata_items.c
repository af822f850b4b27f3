#include "format/metadata_items.h"

#include <string.h>

#include "base/checked.h"
#include "base/cursor.h"
#include "format/constants.h"

static const char FP_NAME[] = "file parameters";
static const char VDS_NAME[] = "virtual disk size";
static const char VDI_NAME[] = "virtual disk id";
static const char LSS_NAME[] = "logical sector size";
static const char PSS_NAME[] = "physical sector size";

static bool is_sector_size(uint32_t v)
{
    return v == 512 || v == 4096;
}

/* ---- §5.4.1 File Parameters ---- */

vhdx_status file_parameters_decode(const uint8_t *buf, size_t len, struct file_parameters *out,
                                   struct diag_sink *d)
{
    struct rcursor c = rc_make(buf, len);
    uint32_t flags;

    memset(out, 0, sizeof(*out));
    if (buf == NULL || len != FILE_PARAMETERS_SIZE)
        return DIAG_ERROR(d, VHDX_E_RANGE, "metadata_items.file_parameters.length", FP_NAME, 0,
                          "item is %zu bytes long, must be exactly %u",
                          buf == NULL ? (size_t)0 : len, FILE_PARAMETERS_SIZE);
    out->block_size = rc_u32(&c);
    flags = rc_u32(&c);
    if (NEVER(!rc_ok(&c)))
        return VHDX_E_TRUNCATED;
    out->leave_blocks_allocated = (flags & FILE_PARAMETERS_FLAG_LEAVE_BLOCKS_ALLOCATED) != 0;
    out->has_parent = (flags & FILE_PARAMETERS_FLAG_HAS_PARENT) != 0;
    /* §5.4.1: bits 2-31 are reserved and MUST be 0; openvmm rejects them. */
    if ((flags & FILE_PARAMETERS_FLAGS_RESERVED) != 0)
        return DIAG_ERROR(d, VHDX_E_RESERVED, "metadata_items.file_parameters.flags.reserved",
                          FP_NAME, 4, "flags 0x%08x set reserved bits 2-31", flags);
    return VHDX_OK;
}

vhdx_status file_parameters_validate(const struct file_parameters *fp, struct diag_sink *d)
{
    vhdx_status first = VHDX_OK;

    /* §5.4.1: a power of 2 from 1 MiB to 256 MiB inclusive. */
    if (!is_pow2_u64(fp->block_size) || fp->block_size < VHDX_MIN_BLOCK_SIZE ||
        fp->block_size > VHDX_MAX_BLOCK_SIZE)
        first = status_first(
            first, DIAG_ERROR(d, VHDX_E_RANGE, "metadata_items.file_parameters.block_size",
                              FP_NAME, 0,
                              "block size %u (0x%x) is not a power of 2 between 1 MiB and 256 MiB",
                              fp->block_size, fp->block_size));
    /* §5.4.1: LeaveBlocksAllocated is ignored when HasParent is set. */
    if (fp->leave_blocks_allocated && fp->has_parent)
        (void)DIAG_INFO(d, "metadata_items.file_parameters.leave_blocks_allocated.ignored",
                        FP_NAME, 4,
                        "LeaveBlocksAllocated is set on a differencing disk, where it is ignored");
    return first;
}

vhdx_status file_parameters_encode(const struct file_parameters *fp, uint8_t *buf, size_t len)
{
    struct wcursor c = wc_make(buf, len);

    if (buf == NULL || len < FILE_PARAMETERS_SIZE)
        return VHDX_E_TRUNCATED;
    wc_u32(&c, fp->block_size);
    wc_u32(&c, (fp->leave_blocks_allocated ? FILE_PARAMETERS_FLAG_LEAVE_BLOCKS_ALLOCATED : 0u) |
                   (fp->has_parent ? FILE_PARAMETERS_FLAG_HAS_PARENT : 0u));
    return ALWAYS(wc_ok(&c)) ? VHDX_OK : VHDX_E_TRUNCATED;
}

/* ---- §5.4.2 Virtual Disk Size ---- */

vhdx_status virtual_disk_size_decode(const uint8_t *buf, size_t len,
                                     struct virtual_disk_size *out, struct diag_sink *d)
{
    struct rcursor c = rc_make(buf, len);

    memset(out, 0, sizeof(*out));
    if (buf == NULL || len != VIRTUAL_DISK_SIZE_ITEM_SIZE)
        return DIAG_ERROR(d, VHDX_E_RANGE, "metadata_items.virtual_disk_size.length", VDS_NAME,
                          0, "item is %zu bytes long, must be exactly %u",
                          buf == NULL ? (size_t)0 : len, VIRTUAL_DISK_SIZE_ITEM_SIZE);
    out->size = rc_u64(&c);
    return ALWAYS(rc_ok(&c)) ? VHDX_OK : VHDX_E_TRUNCATED;
}

vhdx_status virtual_disk_size_validate(const struct virtual_disk_size *vds,
                                       uint32_t logical_sector_size, struct diag_sink *d)
{
    vhdx_status first = VHDX_OK;

    /* openvmm rejects 0; the BAT size formulas of §7.5 underflow with it. */
    if (vds->size == 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE,
                                               "metadata_items.virtual_disk_size.zero", VDS_NAME,
                                               0, "virtual disk size is 0"));
    /* §5.4.2: at most 64 TiB. */
    if (vds->size > VHDX_MAX_VIRTUAL_DISK_SIZE)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE,
                                               "metadata_items.virtual_disk_size.max", VDS_NAME, 0,
                                               "virtual disk size %llu exceeds 64 TiB (%llu)",
                                               (unsigned long long)vds->size,
                                               (unsigned long long)VHDX_MAX_VIRTUAL_DISK_SIZE));
    /* §5.4.2: a multiple of the logical sector size. */
    if (is_sector_size(logical_sector_size) && vds->size % logical_sector_size != 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_ALIGNMENT,
                                               "metadata_items.virtual_disk_size.alignment",
                                               VDS_NAME, 0,
                                               "virtual disk size %llu is not a multiple of the "
                                               "logical sector size %u",
                                               (unsigned long long)vds->size,
                                               logical_sector_size));
    return first;
}

vhdx_status virtual_disk_size_encode(const struct virtual_disk_size *vds, uint8_t *buf,
                                     size_t len)
{
    struct wcursor c = wc_make(buf, len);

    if (buf == NULL || len < VIRTUAL_DISK_SIZE_ITEM_SIZE)
        return VHDX_E_TRUNCATED;
    wc_u64(&c, vds->size);
    return ALWAYS(wc_ok(&c)) ? VHDX_OK : VHDX_E_TRUNCATED;
}

/* ---- §5.4.3 Virtual Disk ID ---- */

vhdx_status virtual_disk_id_decode(const uint8_t *buf, size_t len, struct virtual_disk_id *out,
                                   struct diag_sink *d)
{
    struct rcursor c = rc_make(buf, len);

    memset(out, 0, sizeof(*out));
    if (buf == NULL || len != VIRTUAL_DISK_ID_SIZE)
        return DIAG_ERROR(d, VHDX_E_RANGE, "metadata_items.virtual_disk_id.length", VDI_NAME, 0,
                          "item is %zu bytes long, must be exactly %u",
                          buf == NULL ? (size_t)0 : len, VIRTUAL_DISK_ID_SIZE);
    (void)rc_bytes(&c, out->id.b, 16);
    return ALWAYS(rc_ok(&c)) ? VHDX_OK : VHDX_E_TRUNCATED;
}

vhdx_status virtual_disk_id_validate(const struct virtual_disk_id *vdi, struct diag_sink *d)
{
    /* §5.4.3: the id is the disk's SCSI identity; a nil one identifies nothing. */
    if (guid_is_nil(&vdi->id))
        (void)DIAG_WARN(d, VHDX_E_RANGE, "metadata_items.virtual_disk_id.nil", VDI_NAME, 0,
                        "virtual disk id is the nil GUID");
    return VHDX_OK;
}

vhdx_status virtual_disk_id_encode(const struct virtual_disk_id *vdi, uint8_t *buf, size_t len)
{
    struct wcursor c = wc_make(buf, len);

    if (buf == NULL || len < VIRTUAL_DISK_ID_SIZE)
        return VHDX_E_TRUNCATED;
    wc_bytes(&c, vdi->id.b, 16);
    return ALWAYS(wc_ok(&c)) ? VHDX_OK : VHDX_E_TRUNCATED;
}

/* ---- §5.4.4 Logical Sector Size ---- */

vhdx_status logical_sector_size_decode(const uint8_t *buf, size_t len,
                                       struct logical_sector_size *out, struct diag_sink *d)
{
    struct rcursor c = rc_make(buf, len);

    memset(out, 0, sizeof(*out));
    if (buf == NULL || len != LOGICAL_SECTOR_SIZE_ITEM_SIZE)
        return DIAG_ERROR(d, VHDX_E_RANGE, "metadata_items.logical_sector_size.length", LSS_NAME,
                          0, "item is %zu bytes long, must be exactly %u",
                          buf == NULL ? (size_t)0 : len, LOGICAL_SECTOR_SIZE_ITEM_SIZE);
    out->size = rc_u32(&c);
    return ALWAYS(rc_ok(&c)) ? VHDX_OK : VHDX_E_TRUNCATED;
}

vhdx_status logical_sector_size_validate(const struct logical_sector_size *lss,
                                         struct diag_sink *d)
{
    /* §5.4.4: 512 or 4096. */
    if (!is_sector_size(lss->size))
        return DIAG_ERROR(d, VHDX_E_RANGE, "metadata_items.logical_sector_size.value", LSS_NAME,
                          0, "logical sector size is %u, must be 512 or 4096", lss->size);
    return VHDX_OK;
}

vhdx_status logical_sector_size_encode(const struct logical_sector_size *lss, uint8_t *buf,
                                       size_t len)
{
    struct wcursor c = wc_make(buf, len);

    if (buf == NULL || len < LOGICAL_SECTOR_SIZE_ITEM_SIZE)
        return VHDX_E_TRUNCATED;
    wc_u32(&c, lss->size);
    return ALWAYS(wc_ok(&c)) ? VHDX_OK : VHDX_E_TRUNCATED;
}

/* ---- §5.4.5 Physical Sector Size ---- */

vhdx_status physical_sector_size_decode(const uint8_t *buf, size_t len,
                                        struct physical_sector_size *out, struct diag_sink *d)
{
    struct rcursor c = rc_make(buf, len);

    memset(out, 0, sizeof(*out));
    /* §5.4.5, §11.2 item 23: exactly 4 bytes, even though VirtualBox declares a u64. */
    if (buf == NULL || len != PHYSICAL_SECTOR_SIZE_ITEM_SIZE)
        return DIAG_ERROR(d, VHDX_E_RANGE, "metadata_items.physical_sector_size.length",
                          PSS_NAME, 0, "item is %zu bytes long, must be exactly %u",
                          buf == NULL ? (size_t)0 : len, PHYSICAL_SECTOR_SIZE_ITEM_SIZE);
    out->size = rc_u32(&c);
    return ALWAYS(rc_ok(&c)) ? VHDX_OK : VHDX_E_TRUNCATED;
}

vhdx_status physical_sector_size_validate(const struct physical_sector_size *pss,
                                          struct diag_sink *d)
{
    /* §5.4.5: 512 or 4096. */
    if (!is_sector_size(pss->size))
        return DIAG_ERROR(d, VHDX_E_RANGE, "metadata_items.physical_sector_size.value", PSS_NAME,
                          0, "physical sector size is %u, must be 512 or 4096", pss->size);
    return VHDX_OK;
}

vhdx_status physical_sector_size_encode(const struct physical_sector_size *pss, uint8_t *buf,
                                        size_t len)
{
    struct wcursor c = wc_make(buf, len);

    if (buf == NULL || len < PHYSICAL_SECTOR_SIZE_ITEM_SIZE)
        return VHDX_E_TRUNCATED;
    wc_u32(&c, pss->size);
    return ALWAYS(wc_ok(&c)) ? VHDX_OK : VHDX_E_TRUNCATED;
}
