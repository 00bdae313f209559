/* csv.c - numeric CSV tables (RFC 4180 quoting, a numbers-only body) into a (rows, cols) f64
 * array, with an optional header row that is detected or declared.
 *
 * One read of the whole file (bounded by max_bytes), then two linear passes: the first counts
 * the non-blank lines so the output is allocated once (checked against the limit), the second
 * parses. Every field is located first (delimiter, quotes, surrounding blanks) and only then
 * handed to strtod, which must consume it exactly: strtod never sees a field boundary it could
 * run across. Numbers use the C locale's decimal point (the library never calls setlocale). */
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"

suri_csv_opts suri_csv_defaults(void) {
  suri_csv_opts o = {',', -1, 0};
  return o;
}

void suri_csv_free_names(char **names, int64_t n) {
  if (!names) return;
  for (int64_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

typedef struct csv {
  const char *path;
  char delim;
  const char *p, *end; /* cursor over the whole text */
  int64_t line;        /* 1-based number of the line at the cursor */
} csv;

typedef struct field {
  const char *s, *e; /* content, without quotes and surrounding blanks */
  int quoted;
} field;

static int is_blank(char c, char delim) { return (c == ' ' || c == '\t') && c != delim; }

/* The next line [*ls, *le) without its '\n' or "\r\n"; advances the cursor. 0 at the end. */
static int next_line(csv *c, const char **ls, const char **le) {
  if (c->p >= c->end) return 0;
  const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
  *ls = c->p;
  *le = nl ? nl : c->end;
  c->p = nl ? nl + 1 : c->end;
  if (*le > *ls && (*le)[-1] == '\r') (*le)--;
  c->line++;
  return 1;
}

static int line_blank(const char *s, const char *e) {
  while (s < e && (*s == ' ' || *s == '\t' || *s == '\r')) s++;
  return s == e;
}

/* Parses the field at *p in [*p, le); leaves *p after the delimiter (or at le). */
static suri_status next_field(const csv *c, const char **p, const char *le, int64_t col,
                              field *f) {
  const char *s = *p;
  while (s < le && is_blank(*s, c->delim)) s++;
  f->quoted = s < le && *s == '"';
  if (f->quoted) {
    const char *q = s + 1;
    for (;;) {
      q = memchr(q, '"', (size_t)(le - q));
      if (!q)
        return suri_fail(SURI_ERR_FORMAT, "%s: line %lld, column %lld: unterminated quote "
                         "(quoted fields cannot span lines)", c->path, (long long)c->line,
                         (long long)col);
      if (q + 1 < le && q[1] == '"') q += 2;
      else break;
    }
    f->s = s + 1;
    f->e = q;
    s = q + 1;
    while (s < le && is_blank(*s, c->delim)) s++;
    if (s < le && *s != c->delim)
      return suri_fail(SURI_ERR_FORMAT, "%s: line %lld, column %lld: text after a closing "
                       "quote", c->path, (long long)c->line, (long long)col);
  } else {
    const char *d = memchr(s, c->delim, (size_t)(le - s));
    f->s = s;
    f->e = d ? d : le;
    s = f->e;
    while (f->e > f->s && is_blank(f->e[-1], c->delim)) f->e--;
  }
  *p = s < le ? s + 1 : le; /* s is at a delimiter or at the end of the line */
  return SURI_OK;
}

/* 0 and *v if f is exactly one number. */
static int field_number(const field *f, double *v) {
  if (f->s == f->e) return -1;
  char *end = NULL;
  *v = strtod(f->s, &end);
  return end == f->e ? 0 : -1;
}

static suri_status not_a_number(const csv *c, int64_t col, const field *f) {
  if (f->s == f->e)
    return suri_fail(SURI_ERR_FORMAT, "%s: line %lld, column %lld: empty field", c->path,
                     (long long)c->line, (long long)col);
  int n = (int)(f->e - f->s > 40 ? 40 : f->e - f->s);
  return suri_fail(SURI_ERR_FORMAT, "%s: line %lld, column %lld: '%.*s%s' is not a number",
                   c->path, (long long)c->line, (long long)col, n, f->s,
                   f->e - f->s > 40 ? "..." : "");
}

/* Number of fields of line [ls, le) (stops counting past the column limit). */
static suri_status count_fields(const csv *c, const char *ls, const char *le, int64_t *n) {
  const char *p = ls;
  field f;
  int64_t k = 0;
  do {
    suri_status s = next_field(c, &p, le, k + 1, &f);
    if (s) return s;
    k++;
    if (p == le && p > ls && p[-1] == c->delim) k++; /* a trailing empty field */
  } while (p < le && k <= SURI_CSV_MAX_COLS);
  if (k > SURI_CSV_MAX_COLS)
    return suri_fail(SURI_ERR_FORMAT, "%s: line %lld: more than %d columns", c->path,
                     (long long)c->line, SURI_CSV_MAX_COLS);
  *n = k;
  return SURI_OK;
}

/* Parses one data row of exactly `cols` numbers into row[0..cols). */
static suri_status parse_row(const csv *c, const char *ls, const char *le, int64_t cols,
                             int64_t first_line, double *row) {
  const char *p = ls;
  field f;
  for (int64_t j = 0; j < cols; j++) {
    if (j > 0 && p == le && !(p > ls && p[-1] == c->delim))
      return suri_fail(SURI_ERR_FORMAT, "%s: line %lld: %lld fields, expected %lld (as in line "
                       "%lld)", c->path, (long long)c->line, (long long)j, (long long)cols,
                       (long long)first_line);
    suri_status s = next_field(c, &p, le, j + 1, &f);
    if (s) return s;
    if (field_number(&f, &row[j])) return not_a_number(c, j + 1, &f);
  }
  if (p < le || (p == le && p > ls && p[-1] == c->delim)) {
    int64_t n = 0;
    if (count_fields(c, ls, le, &n)) n = cols + 1;
    return suri_fail(SURI_ERR_FORMAT, "%s: line %lld: %lld fields, expected %lld (as in line "
                     "%lld)", c->path, (long long)c->line, (long long)n, (long long)cols,
                     (long long)first_line);
  }
  return SURI_OK;
}

/* Copies the header fields (quotes unescaped) into a malloc'ed array of cols strings. */
static suri_status copy_names(const csv *c, const char *ls, const char *le, int64_t cols,
                              char ***names) {
  char **v = calloc((size_t)cols, sizeof *v);
  if (!v) return suri_fail(SURI_ERR_NOMEM, "%s: cannot allocate %lld header names", c->path,
                           (long long)cols);
  const char *p = ls;
  field f;
  for (int64_t j = 0; j < cols; j++) {
    suri_status s = next_field(c, &p, le, j + 1, &f);
    char *d = s ? NULL : malloc((size_t)(f.e - f.s) + 1);
    if (!d) {
      suri_csv_free_names(v, cols);
      return s ? s : suri_fail(SURI_ERR_NOMEM, "%s: cannot allocate header names", c->path);
    }
    size_t k = 0;
    for (const char *q = f.s; q < f.e; q++) {
      d[k++] = *q;
      if (f.quoted && *q == '"') q++; /* "" inside quotes is one quote */
    }
    d[k] = '\0';
    v[j] = d;
  }
  *names = v;
  return SURI_OK;
}

/* Decides whether the first row [ls, le) is a header; checks it against o->header. */
static suri_status classify_first(const csv *c, const char *ls, const char *le, int64_t cols,
                                  int header, int *is_header) {
  const char *p = ls;
  field f;
  double v;
  for (int64_t j = 0; j < cols; j++) {
    suri_status s = next_field(c, &p, le, j + 1, &f);
    if (s) return s;
    if (field_number(&f, &v)) {
      if (header == 0) return not_a_number(c, j + 1, &f);
      *is_header = 1;
      return SURI_OK;
    }
  }
  *is_header = header == 1;
  return SURI_OK;
}

static suri_status parse_text(csv *c, const suri_csv_opts *o, suri_array *out, char ***names,
                              int64_t *n_names) {
  const char *ls = NULL, *le = NULL;
  while (next_line(c, &ls, &le) && line_blank(ls, le)) {}
  if (!ls || line_blank(ls, le))
    return suri_fail(SURI_ERR_FORMAT, "%s: no data (the file is empty)", c->path);
  int64_t cols = 0, first_line = c->line;
  int is_header = 0;
  suri_status s = count_fields(c, ls, le, &cols);
  if (!s) s = classify_first(c, ls, le, cols, o->header, &is_header);
  if (s) return s;
  const char *body = is_header ? c->p : ls, *hs = ls, *he = le;
  int64_t body_line = is_header ? c->line + 1 : c->line;
  /* Pass 1: count the data rows. */
  int64_t rows = is_header ? 0 : 1;
  while (next_line(c, &ls, &le))
    if (!line_blank(ls, le)) rows++;
  if (rows == 0)
    return suri_fail(SURI_ERR_FORMAT, "%s: line %lld: a header but no data rows", c->path,
                     (long long)first_line);
  int64_t dim[2] = {rows, cols};
  size_t nbytes = 0;
  if ((s = suri_io_shape_bytes(c->path, 2, dim, SURI_DT_F64, o->max_bytes, NULL, &nbytes)))
    return s;
  double *data = suri_alloc(nbytes);
  if (!data) return suri_fail(SURI_ERR_NOMEM, "%s: cannot allocate %zu bytes", c->path, nbytes);
  /* Pass 2: parse. */
  c->p = body;
  c->line = body_line - 1;
  int64_t r = 0;
  while (!s && next_line(c, &ls, &le)) {
    if (line_blank(ls, le)) continue;
    if (r == 0 && !is_header) first_line = c->line;
    s = parse_row(c, ls, le, cols, first_line, data + r * cols);
    r++;
  }
  if (!s && is_header && names) s = copy_names(c, hs, he, cols, names);
  if (s) {
    suri_free(data);
    return s;
  }
  if (n_names) *n_names = is_header ? cols : 0;
  out->dtype = SURI_DT_F64;
  out->rank = 2;
  out->dim[0] = rows;
  out->dim[1] = cols;
  out->data = data;
  out->nbytes = nbytes;
  return SURI_OK;
}

suri_status suri_csv_read(const char *path, const suri_csv_opts *o, suri_array *out,
                          char ***header_names, int64_t *n_header) {
  memset(out, 0, sizeof *out);
  if (header_names) *header_names = NULL;
  if (n_header) *n_header = 0;
  suri_csv_opts d = suri_csv_defaults();
  if (!o) o = &d;
  char dl = o->delimiter ? o->delimiter : ',';
  if (strchr("0123456789.+-\" \r\n", dl) || (dl >= 'a' && dl <= 'z') ||
      (dl >= 'A' && dl <= 'Z'))
    return suri_fail(SURI_ERR_ARG, "%s: delimiter '%c' would be ambiguous with numbers, quotes "
                     "or blanks", path, dl);
  if (o->header < -1 || o->header > 1)
    return suri_fail(SURI_ERR_ARG, "%s: header must be -1 (detect), 0 or 1, not %d", path,
                     o->header);
  void *buf = NULL;
  size_t n = 0;
  suri_status s = suri_read_file(path, o->max_bytes, &buf, &n);
  if (s) return s;
  const char *text = buf;
  if (n >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) text += 3; /* UTF-8 byte order mark */
  csv c = {path, dl, text, (const char *)buf + n, 0};
  s = parse_text(&c, o, out, header_names, n_header);
  suri_free(buf);
  return s;
}
