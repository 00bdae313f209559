/* memory.c - up-front memory estimate of a training run, so that a model, batch or data set
 * too large for the machine is refused with numbers instead of being killed by the kernel
 * half-way through allocating. The estimate mirrors the allocations exactly where they are
 * known from the spec (the flat blocks of src/nn/mlp.c, the optimizer's state arrays of
 * src/optim/optim.c, the trainer's buffers of train.c) and the buffer plan of
 * suri_graph_compile (src/graph/graph.c: every op node holds a value, a tangent and, when it
 * needs one, a gradient of its output size, plus the op's scratch, sized as src/ops/ sizes it),
 * charging every buffer a full 64 bytes of alignment padding, so the total is an upper
 * estimate. Code, libraries and OpenBLAS's per-thread work buffer (32 MiB each, touched by
 * large products) get a fixed allowance. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ops/dense_swap.h"
#include "suri/optim.h"
#include "train_internal.h"

/* One tensor's slots in a flat block: the graph starts each at a multiple of 16 elements. */
static double padded(double numel) {
  return ceil(numel / 16.0) * 16.0; /* PARAM_PAD in src/graph/graph.c: 16 elements */
}

/* Parameter and state block lengths of the MLP the spec describes (src/nn/mlp.c). */
static void count_params(const suri_model_spec *s, double *np, double *ns) {
  int L = s->n_widths - 1;
  double p = 0, st = 0;
  for (int l = 1; l <= L; l++) {
    double in = (double)s->width[l - 1], out = (double)s->width[l];
    int last = l == L;
    p += padded(in * out) + ((s->param == SURI_PARAM_MEANFIELD && last) ? 0 : padded(out));
    int bn = (!last && s->norm == SURI_NORM_BATCH) || (last && s->norm == SURI_NORM_LASTBATCH);
    int ln = !last && s->norm == SURI_NORM_LAYER;
    if (bn || ln) p += 2 * padded(out);
    if (bn) st += 2 * padded(out);
  }
  *np = p;
  *ns = st;
}

/* Graph buffer bytes for batch B: op nodes hold value, tangent and gradient of their output
 * (B, width), each rounded up to 64 bytes, plus scratch: batch norm (8 + 4 N) doubles, layer
 * norm 2 B doubles, dropout a (B, width) mask and a header, softmax-CE (8 + 2 B) doubles
 * (src/ops/norm.c, dropout.c, loss.c); inputs hold their value; one transient buffer for
 * swapped dense products (src/ops/dense_swap.h). Each buffer is counted with a
 * full 64 bytes of padding, so this is an upper bound. */
static double graph_bytes(const suri_model_spec *s, double B) {
  const double r = (double)sizeof(suri_real), pad = 64.0;
  int L = s->n_widths - 1;
  double in = (double)s->width[0], outw = (double)s->width[L];
  double bytes = B * in * r + pad + (s->loss == SURI_LOSS_CE ? B * 4.0 : B * outw * r) + pad;
  for (int l = 1; l <= L; l++) {
    double out = (double)s->width[l], node = 3.0 * (B * out * r + pad);
    int last = l == L;
    int bn = last ? s->norm == SURI_NORM_LASTBATCH : s->norm == SURI_NORM_BATCH;
    int ln = !last && s->norm == SURI_NORM_LAYER;
    int drop = !last && s->dropout > 0;
    bytes += node;                                       /* dense */
    if (bn) bytes += node + (8.0 + 4.0 * out) * 8.0 + pad;
    if (ln) bytes += node + 2.0 * B * 8.0 + pad;
    if (!last) bytes += node;                            /* activation */
    if (drop) bytes += node + B * out * r + 2.0 * pad;   /* mask and header */
  }
  bytes += 3.0 * (r + pad);                              /* the scalar loss */
  double swap = 0; /* the transient buffer of swapped dense products (src/ops/dense_swap.h) */
  for (int l = 1; l <= L; l++)
    swap = fmax(swap, (double)suri_dense_swap_elems((int64_t)B, s->width[l], s->width[l - 1]));
  if (swap > 0) bytes += swap * r + pad;
  if (s->loss == SURI_LOSS_CE) bytes += (8.0 + 2.0 * B) * 8.0 + pad;
  return bytes;
}

static double dataset_bytes(const suri_dataset *d) {
  if (!d) return 0;
  double n = (double)d->n;
  double cell = d->x8 ? 1.0 : (double)sizeof(suri_real); /* compact sets keep u8 values */
  return n * (double)d->dim * cell + (d->y ? n * 4.0 : 0) +
         (d->t ? n * (double)d->targets * (double)sizeof(suri_real) : 0) +
         (d->mean ? 2.0 * (double)d->dim * 8.0 : 0);
}

suri_status suri_train_memory_estimate(const suri_model_spec *spec, const suri_train_config *c,
                                       const suri_dataset *train, const suri_dataset *test,
                                       suri_train_memory *out) {
  if (!spec || !c || !out) return suri_fail(SURI_ERR_ARG, "memory estimate: NULL argument");
  memset(out, 0, sizeof *out);
  suri_optim_kind kind;
  suri_status st = suri_optim_kind_parse(c->optim, &kind);
  if (st) return st;
  const double r = (double)sizeof(suri_real), B = (double)(c->batch > 0 ? c->batch : 1);
  double np, ns;
  count_params(spec, &np, &ns);
  suri_optim_hp hp = suri_optim_defaults(kind);
  if (c->momentum >= 0) hp.momentum = c->momentum;
  int states = (kind == SURI_OPTIM_ADAM || kind == SURI_OPTIM_ADAMW) ? (hp.amsgrad ? 3 : 2)
               : hp.momentum != 0                                     ? 1
                                                                      : 0;
  out->params = (2.0 * np + ns) * r + 3.0 * 64.0;
  out->optim = states * (np * r + 64.0);
  out->graph = graph_bytes(spec, B);
  int64_t outw = spec->width[spec->n_widths - 1];
  /* Targets and labels of a batch and the epoch order (the features are gathered straight
   * into the graph's input buffer, counted in graph); eval row numbers (8 B each). */
  out->batch = B * (double)(outw > 1 ? outw : 1) * r + B * 4.0 + B * 8.0 +
               (train ? (double)train->n * 8.0 : 0);
  out->data = dataset_bytes(train) + dataset_bytes(test);
  /* The safetensors writer copies every tensor before writing (src/io/safetensors_write.c),
   * and resuming reads the whole checkpoint into memory: parameters, state, optimizer. */
  out->io = (np + ns + states * np) * r + 65536.0;
  out->runtime = (16.0 + 32.0 * (double)suri_get_threads()) * 1048576.0;
  out->total = out->params + out->optim + out->graph + out->batch + out->data + out->io +
               out->runtime;
  return SURI_OK;
}

/* The first number in file `path` (a line starting with `key` when key != NULL), times mul;
 * -1 if the file or the line is missing or holds no number (e.g. cgroup's "max"). */
static double read_number(const char *path, const char *key, double mul) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[256];
  double v = -1;
  while (fgets(line, sizeof line, f)) {
    if (key && strncmp(line, key, strlen(key)) != 0) continue;
    const char *p = key ? line + strlen(key) : line;
    char *end;
    errno = 0;
    double x = strtod(p, &end);
    if (end != p && errno == 0 && x >= 0) v = x * mul;
    break;
  }
  fclose(f);
  return v;
}

double suri_memory_available(void) {
  double avail = read_number("/proc/meminfo", "MemAvailable:", 1024.0);
  if (avail < 0) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    avail = pages > 0 && size > 0 ? (double)pages * (double)size : 0;
  }
  /* A container's limit: what it leaves is what this process can have. */
  double lim = read_number("/sys/fs/cgroup/memory.max", NULL, 1.0);
  double use = read_number("/sys/fs/cgroup/memory.current", NULL, 1.0);
  if (lim < 0) {
    lim = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes", NULL, 1.0);
    use = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes", NULL, 1.0);
    if (lim > 1e18) lim = -1; /* v1 writes "no limit" as a huge number */
  }
  if (lim >= 0 && use >= 0) {
    double left = lim > use ? lim - use : 0;
    if (avail <= 0 || left < avail) avail = left;
  }
  return avail;
}

/* "1.5 GiB" into buf (>= 32 bytes). */
static const char *human(double b, char *buf) {
  static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (b >= 1024.0 && u < 6) b /= 1024.0, u++;
  snprintf(buf, 32, u ? "%.3g %s" : "%.0f %s", b, unit[u]);
  return buf;
}

suri_status suri_train_memory_check(const suri_train_memory *m, double limit,
                                    const char *limit_what) {
  if (!(m->total > limit)) return SURI_OK;
  char t[32], l[32], a[32], b[32], c[32], d[32], e[32];
  char f[32], g[32];
  return suri_fail(SURI_ERR_NOMEM, "training would need about %s (parameters and gradients %s, "
                   "optimizer state %s, graph buffers %s, batch buffers %s, data %s, checkpoint "
                   "copy %s, code and BLAS buffers %s), more than %s (%s)", human(m->total, t),
                   human(m->params, a), human(m->optim, b), human(m->graph, c),
                   human(m->batch, d), human(m->data, e), human(m->io, f), human(m->runtime, g),
                   limit_what ? limit_what : "the limit", human(limit, l));
}

suri_status suri_parse_memory(const char *text, double *bytes) {
  static const struct { const char *name; double mul; } units[] = {
      {"", 1},           {"b", 1},           {"k", 1024.0},     {"kb", 1024.0},
      {"kib", 1024.0},   {"m", 1048576.0},   {"mb", 1048576.0}, {"mib", 1048576.0},
      {"g", 1073741824.0}, {"gb", 1073741824.0}, {"gib", 1073741824.0},
      {"t", 1099511627776.0}, {"tb", 1099511627776.0}, {"tib", 1099511627776.0}};
  char *end = NULL;
  if (!text || !*text || isspace((unsigned char)text[0]) || text[0] == '-' || text[0] == '+')
    return suri_fail(SURI_ERR_ARG, "memory size '%s' must be a number with an optional unit "
                     "(K, M, G, T)", text ? text : "");
  errno = 0;
  double v = strtod(text, &end);
  if (end == text || !isfinite(v) || errno == ERANGE)
    return suri_fail(SURI_ERR_ARG, "memory size '%s' must be a number with an optional unit "
                     "(K, M, G, T)", text);
  char unit[8];
  size_t k = 0;
  while (k + 1 < sizeof unit && end[k]) unit[k] = (char)tolower((unsigned char)end[k]), k++;
  unit[k] = '\0';
  if (end[k])
    return suri_fail(SURI_ERR_ARG, "memory size '%s': unknown unit '%s' (K, M, G, T)", text, end);
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(unit, units[i].name) != 0) continue;
    double b = v * units[i].mul;
    if (!(b >= 1048576.0))
      return suri_fail(SURI_ERR_ARG, "memory size '%s' is below 1 MiB", text);
    *bytes = b;
    return SURI_OK;
  }
  return suri_fail(SURI_ERR_ARG, "memory size '%s': unknown unit '%s' (K, M, G, T)", text, end);
}
