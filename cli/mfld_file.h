/* mfld_file.h - `suri eval`, `suri predict` and `suri info` on a particle file written by
 * `suri train --optim mfld|pda|psdca` (safetensors with metadata format "suri-mfld",
 * src/mfld/file.c). The commands call these after their option parsing (mfld_file.c). */
#ifndef SURI_MFLD_FILE_H
#define SURI_MFLD_FILE_H

#include <stdint.h>

/* 1 if path is a safetensors file whose metadata says format "suri-mfld" (reads the header
 * only); 0 otherwise, including unreadable files (the command's own loader reports those). */
int cli_is_mfld_file(const char *path);

/* Each returns the exit code. bad_flag: a flag given to the command that does not apply to a
 * particle file (e.g. "--samples"), or NULL; it makes the call a usage error naming it. */
/* Mean loss and 0-1 error (suri_mfld_evaluate) on the data spec. */
int cli_mfld_eval(const char *path, const char *data, int64_t threads, int json,
                  const char *bad_flag);
/* f(x) for every row of the NPY input, written as float32 (N, 1) NPY, atomically. */
int cli_mfld_predict(const char *path, const char *input, const char *output,
                     const char *bad_flag);
/* Method, configuration, M, p, step counters, tensors and metadata. */
int cli_mfld_info(const char *path);

#endif
