/* main.c - the suri command: dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

#include "suri/core.h"

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "version") == 0) {
    printf("suri %s (%s, BLAS %s)\n", SURI_VERSION_STRING, SURI_REAL_NAME, suri_blas_info());
    return 0;
  }
  fprintf(stderr, "usage: suri version\n");
  return 2;
}
