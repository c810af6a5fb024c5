/* Files as the SPEC promises: atomic writes, no overwrite without force, 0600 for keys. */
#ifndef HSMCERT_FILE_H
#define HSMCERT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "hsmcert/error.h"

/*
 * Write via a temporary file in the same directory, fsync, rename, fsync the
 * directory. An existing file is HC_CHECK unless `force`. Nothing is left
 * behind on failure. "-" writes to standard output.
 */
hc_rc hc_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool force,
			   hc_error *err);

/* Refuse early (before any token work) when the output exists and force is off. */
hc_rc hc_file_check_writable(const char *path, bool force, hc_error *err);

/* Read a whole file ("-" is standard input), at most max bytes. Caller frees. */
hc_rc hc_file_read(const char *path, size_t max, unsigned char **data, size_t *len, hc_error *err);

/*
 * DIR/NAME with one slash between them, however many DIR ends with ("out/"
 * and "out" give "out/x"; "/" gives "/x"), so printed paths never hold "//".
 * NULL when out of memory. Caller frees.
 */
char *hc_path_join(const char *dir, const char *name);

#endif
