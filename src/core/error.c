/* error.c - status names and the thread-local detail message behind suri_last_error().
 * The library reports every failure through a status plus this message; it never prints. */
#include <stdarg.h>
#include <stdio.h>

#include "suri/core.h"

static _Thread_local char last_error[1024];

const char *suri_status_name(suri_status st) {
  switch (st) {
  case SURI_OK: return "ok";
  case SURI_ERR_ARG: return "invalid argument";
  case SURI_ERR_SHAPE: return "shape mismatch";
  case SURI_ERR_NOMEM: return "out of memory";
  case SURI_ERR_IO: return "i/o error";
  case SURI_ERR_FORMAT: return "malformed input";
  case SURI_ERR_NUMERIC: return "numerical error";
  case SURI_ERR_STATE: return "invalid state";
  case SURI_ERR_UNSUPPORTED: return "unsupported";
  case SURI_ERR_COMM: return "communication error";
  case SURI_ERR_INTERRUPTED: return "interrupted";
  }
  return "unknown status";
}

const char *suri_last_error(void) { return last_error; }

void suri_clear_error(void) { last_error[0] = '\0'; }

suri_status suri_fail(suri_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return st;
}
