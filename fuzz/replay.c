/* replay.c - a main() for the fuzz targets in builds without libFuzzer (gcc, the ASan/UBSan
 * build, valgrind): it runs LLVMFuzzerTestOneInput once on every file named on the command
 * line (directories: every regular file in them, sorted), after LLVMFuzzerInitialize when the
 * target has one. CTest uses it to replay the committed seeds (fuzz/corpus/<target>/) and past
 * findings (fuzz/regress/<target>/) on every build, so a fixed crash stays fixed. Missing
 * directories are skipped. Exit status 0 if every input ran; a target detects a problem by
 * crashing or aborting, as under libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

typedef struct input {
  char *name;
  uint8_t *data;
  size_t n;
} input;

static input *inputs;
static size_t n_inputs, cap_inputs;

static void add_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
  if (!buf || (len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len)) {
    fprintf(stderr, "replay: cannot read %s\n", path);
    exit(1);
  }
  fclose(f);
  if (n_inputs == cap_inputs) {
    cap_inputs = cap_inputs ? 2 * cap_inputs : 64;
    inputs = realloc(inputs, cap_inputs * sizeof *inputs);
    if (!inputs) exit(1);
  }
  inputs[n_inputs].name = strdup(path);
  inputs[n_inputs].data = buf;
  inputs[n_inputs].n = (size_t)len;
  n_inputs++;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  char **names = NULL;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    names = realloc(names, (n + 1) * sizeof *names);
    if (!names) exit(1);
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, cmp_names);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) add_file(path);
    free(names[i]);
  }
  free(names);
}

int main(int argc, char **argv) {
  /* Read everything first: a target's initialisation may change the working directory. */
  for (int i = 1; i < argc; i++) {
    struct stat sb;
    if (stat(argv[i], &sb) != 0) continue;
    if (S_ISDIR(sb.st_mode)) add_dir(argv[i]);
    else add_file(argv[i]);
  }
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  for (size_t i = 0; i < n_inputs; i++) {
    LLVMFuzzerTestOneInput(inputs[i].data, inputs[i].n);
    free(inputs[i].data);
    free(inputs[i].name);
  }
  free(inputs);
  printf("replayed %zu inputs\n", n_inputs);
  return 0;
}
