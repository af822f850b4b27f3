/* vhdx info: the description of an image, as text or JSON. */

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vhdx_common.h"

static void info_line_size(const char *key, uint64_t v)
{
    char h[32];
    cli_format_size(v, h, sizeof(h));
    if (v < 1024)
        printf("%-22s%" PRIu64 "\n", key, v);
    else
        printf("%-22s%" PRIu64 " (%s)\n", key, v, h);
}

static void info_line_text(const char *key, const char *v)
{
    printf("%-22s", key);
    cli_text_safe(stdout, v);
    putchar('\n');
}

static void print_info_text(const char *path, const vhdx_info *in)
{
    info_line_text("image:", path);
    info_line_text("type:", disk_type_name(in->type));
    info_line_size("virtual size:", in->virtual_size);
    info_line_size("file size:", in->file_size);
    info_line_size("block size:", in->block_size);
    printf("%-22s%" PRIu32 "\n", "logical sector size:", in->logical_sector_size);
    printf("%-22s%" PRIu32 "\n", "physical sector size:", in->physical_sector_size);
    printf("%-22s%" PRIu32 "\n", "chunk ratio:", in->chunk_ratio);
    printf("%-22s%" PRIu64 "\n", "BAT entries:", in->bat_entries);
    printf("%-22s%" PRIu64 "\n", "blocks allocated:", in->blocks_allocated);
    printf("%-22s%" PRIu64 "\n", "header sequence:", in->header_sequence);
    printf("%-22s%d\n", "current header:", in->current_header);
    info_line_text("file write GUID:", in->file_write_guid);
    info_line_text("data write GUID:", in->data_write_guid);
    info_line_text("log GUID:", in->log_guid);
    info_line_text("virtual disk ID:", in->virtual_disk_id);
    printf("%-22s0x%" PRIx64 "\n", "log offset:", in->log_offset);
    printf("%-22s0x%" PRIx32 "\n", "log length:", in->log_length);
    if (in->log_replay == VHDX_LOG_REPLAYED_IN_MEMORY)
        printf("%-22sdirty, replayed in memory: %" PRIu32 " entries (head sequence %" PRIu64
               "); the file is unchanged\n",
               "log state:", in->log_entries_replayed, in->log_head_sequence);
    else if (in->log_replay == VHDX_LOG_REPLAYED_IN_PLACE)
        printf("%-22sreplayed into the file: %" PRIu32 " entries (head sequence %" PRIu64 ")\n",
               "log state:", in->log_entries_replayed, in->log_head_sequence);
    else
        printf("%-22sclean\n", "log state:");
    if (in->type == VHDX_DISK_DIFFERENCING) {
        info_line_text("parent linkage:", in->parent_linkage);
        info_line_text("parent path:", in->parent_path);
    }
    printf("%-22s%" PRIu32 "\n", "chain depth:", in->chain_depth);
    info_line_text("creator:", in->creator);
}

static void json_key(const char *key, bool first)
{
    printf("%s\n  \"%s\": ", first ? "" : ",", key);
}

static void json_u64(const char *key, uint64_t v)
{
    json_key(key, false);
    printf("%" PRIu64, v);
}

static void json_str(const char *key, const char *v)
{
    json_key(key, false);
    cli_json_string(stdout, v);
}

static void print_info_json(const char *path, const vhdx_info *in)
{
    bool diff = in->type == VHDX_DISK_DIFFERENCING;

    putchar('{');
    json_key("version", true);
    printf("%d", CLI_JSON_VERSION);
    json_str("path", path);
    json_str("type", disk_type_name(in->type));
    json_u64("virtual_size", in->virtual_size);
    json_u64("file_size", in->file_size);
    json_u64("block_size", in->block_size);
    json_u64("logical_sector_size", in->logical_sector_size);
    json_u64("physical_sector_size", in->physical_sector_size);
    json_u64("chunk_ratio", in->chunk_ratio);
    json_u64("bat_entries", in->bat_entries);
    json_u64("blocks_allocated", in->blocks_allocated);
    json_u64("header_sequence", in->header_sequence);
    json_u64("current_header", (uint64_t)in->current_header);
    json_str("file_write_guid", in->file_write_guid);
    json_str("data_write_guid", in->data_write_guid);
    json_str("log_guid", in->log_guid);
    json_str("virtual_disk_id", in->virtual_disk_id);
    json_u64("log_offset", in->log_offset);
    json_u64("log_length", in->log_length);
    json_key("log_dirty", false);
    fputs(in->log_dirty ? "true" : "false", stdout);
    json_str("log_state", in->log_replay == VHDX_LOG_REPLAYED_IN_MEMORY  ? "replayed_in_memory"
                          : in->log_replay == VHDX_LOG_REPLAYED_IN_PLACE ? "replayed_in_place"
                                                                         : "clean");
    json_u64("log_entries_replayed", in->log_entries_replayed);
    json_u64("log_head_sequence", in->log_head_sequence);
    json_str("parent_linkage", diff ? in->parent_linkage : NULL);
    json_str("parent_path", diff ? in->parent_path : NULL);
    json_u64("chain_depth", in->chain_depth);
    json_str("creator", in->creator);
    fputs("\n}\n", stdout);
}

int cmd_info(int argc, char **argv)
{
    struct cli_findings fs;
    vhdx_image *img;
    vhdx_info *info;
    bool json = false;
    int rc;

    rc = parse_json_image_args(argc, argv, &json);
    if (rc >= 0)
        return rc;
    rc = open_image_info("info", argv[optind], &fs, &img, &info);
    if (rc == CLI_EXIT_OK) {
        if (json)
            print_info_json(argv[optind], info);
        else
            print_info_text(argv[optind], info);
    }
    close_image_info(&fs, img, info);
    return finish_stdout(rc);
}
