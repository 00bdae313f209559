/* table.c - data sets from CSV tables ("csv:FILE,label=COL,..."): one column holds the class
 * label (or a regression target), every other column is a feature. Parsing (quotes, header
 * detection, line/column errors) is suri_csv_read's; this file resolves the label column by
 * index or header name and checks its values. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define CSV_USAGE "csv:FILE[,label=COL|none][,target=COL][,delim=C][,header=0|1|auto]"

static suri_status parse_delim(const dspec *s, const char *v, char *out) {
  static const struct {
    const char *name;
    char c;
  } named[] = {{"tab", '\t'}, {"space", ' '}, {"semicolon", ';'}, {"comma", ','}, {"pipe", '|'}};
  if (!v) return SURI_OK;
  for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
    if (!strcmp(v, named[i].name)) {
      *out = named[i].c;
      return SURI_OK;
    }
  /* Characters that can be part of a number ("1e-3", "nan", "inf") or a quote cannot be. */
  if (strlen(v) == 1 && !isalnum((unsigned char)v[0]) && !strchr("\".+-", v[0])) {
    *out = v[0];
    return SURI_OK;
  }
  return suri_fail(SURI_ERR_ARG, "data spec '%s': delim=%s must be one character that cannot "
                   "occur in a number, or tab|space|semicolon|comma|pipe", s->text, v);
}

static suri_status parse_header(const dspec *s, const char *v, int *out) {
  if (!v) return SURI_OK;
  if (!strcmp(v, "0")) *out = 0;
  else if (!strcmp(v, "1")) *out = 1;
  else if (!strcmp(v, "auto")) *out = -1;
  else
    return suri_fail(SURI_ERR_ARG, "data spec '%s': header=%s must be 0, 1 or auto", s->text, v);
  return SURI_OK;
}

/* Column index of `v` (a 0-based index, negative from the end, or a header name). */
static suri_status resolve_column(const dspec *s, const char *key, const char *v, char **names,
                                  int64_t nh, int64_t cols, int64_t *col) {
  char *end;
  errno = 0;
  long long k = strtoll(v, &end, 10);
  if (*v && !*end && errno == 0) {
    if (k < 0) k += cols;
    if (k < 0 || k >= cols)
      return suri_fail(SURI_ERR_ARG, "data spec '%s': %s=%s is out of range: '%s' has %lld "
                       "column%s", s->text, key, v, s->pos[0], (long long)cols,
                       cols == 1 ? "" : "s");
    *col = k;
    return SURI_OK;
  }
  if (nh == 0)
    return suri_fail(SURI_ERR_ARG, "data spec '%s': %s=%s is not a column number and '%s' has no "
                     "header row", s->text, key, v, s->pos[0]);
  for (int64_t c = 0; c < nh; c++)
    if (!strcmp(names[c], v)) {
      *col = c;
      return SURI_OK;
    }
  char list[512];
  size_t n = 0;
  list[0] = '\0';
  for (int64_t c = 0; c < nh && n + 1 < sizeof list; c++) {
    int w = snprintf(list + n, sizeof list - n, "%s%s", c ? ", " : "", names[c]);
    if (w < 0) break;
    n += (size_t)w;
  }
  return suri_fail(SURI_ERR_ARG, "data spec '%s': %s=%s: '%s' has no column of that name "
                   "(columns: %s)", s->text, key, v, s->pos[0], list);
}

/* Builds the set from the table A (rows, cols) with the label/target column col (-1: none). */
static suri_status from_table(const dspec *s, const suri_array *A, int64_t col, int target,
                              int64_t limit, suri_dataset **out) {
  int64_t rows = A->dim[0], cols = A->dim[1], n = rows < limit ? rows : limit;
  const char *file = s->pos[0];
  if (col >= 0 && cols < 2)
    return suri_fail(SURI_ERR_FORMAT, "data spec '%s': '%s' has a single column: no features "
                     "left besides the %s", s->text, file, target ? "target" : "label");
  suri_dataset *d = NULL;
  suri_status st = data_new(n, col >= 0 ? cols - 1 : cols, col >= 0 && !target,
                            col >= 0 && target, s->text, DATA_UNINIT, &d); /* x: all written */
  if (st == SURI_OK) st = data_copy_columns(s, file, A, n, cols, col, d->x);
  if (st == SURI_OK && col >= 0 && !target) st = data_copy_labels(s, file, A, cols, col, d);
  for (int64_t i = 0; st == SURI_OK && col >= 0 && target && i < n; i++) {
    double v = suri_array_get(A, i * cols + col);
    if (!(fabs(v) <= DATA_REAL_MAX))
      st = suri_fail(SURI_ERR_FORMAT, "data spec '%s': '%s': target %g at row %lld, column %lld "
                     "is not finite", s->text, file, v, (long long)i, (long long)col);
    else
      d->t[i] = (suri_real)v;
  }
  if (st != SURI_OK) {
    suri_dataset_free(d);
    return st;
  }
  *out = d;
  return SURI_OK;
}

suri_status data_load_csv(dspec *s, int64_t limit, suri_dataset **out, int *is_u8) {
  suri_csv_opts o = suri_csv_defaults();
  suri_status st = dspec_npos(s, 1, 1, CSV_USAGE);
  const char *label = dspec_take(s, "label"), *target = dspec_take(s, "target");
  if (st == SURI_OK && label && target)
    st = suri_fail(SURI_ERR_ARG, "data spec '%s': give label= (classification) or target= "
                   "(regression), not both", s->text);
  if (st == SURI_OK) st = parse_delim(s, dspec_take(s, "delim"), &o.delimiter);
  if (st == SURI_OK) st = parse_header(s, dspec_take(s, "header"), &o.header);
  if (st == SURI_OK) st = dspec_check_used(s, "label, target, delim, header");
  if (st != SURI_OK) return st;

  suri_array A;
  char **names = NULL;
  int64_t nh = 0, col = -1;
  memset(&A, 0, sizeof A);
  st = suri_csv_read(s->pos[0], &o, &A, &names, &nh);
  if (st != SURI_OK) return data_wrap(st, "data spec '%s'", s->text);
  if (A.rank != 2 || A.dim[0] < 1)
    st = suri_fail(SURI_ERR_FORMAT, "data spec '%s': '%s' holds zero samples", s->text, s->pos[0]);
  if (st == SURI_OK && target)
    st = resolve_column(s, "target", target, names, nh, A.dim[1], &col);
  else if (st == SURI_OK && !(label && !strcmp(label, "none")))
    st = resolve_column(s, "label", label ? label : "-1", names, nh, A.dim[1], &col);
  if (st == SURI_OK) st = from_table(s, &A, col, target != NULL, limit, out);
  suri_csv_free_names(names, nh);
  suri_array_free(&A);
  *is_u8 = 0;
  return st;
}
