/* atomic_file: a small state file replaced whole — written to PATH.tmp, made durable (fsync), renamed over PATH,
 * and the rename made durable (fsync of the directory), so a crash leaves the old file or the new one, never a
 * mix. Used for the DNS record and saved resolv.conf, and the server address cache. */
#pragma once
#include <stddef.h>

/* 0 or -errno; on failure PATH is untouched and the temp file removed. */
int file_write_atomic(const char *path, const char *data, size_t len, unsigned mode);
