/* train_mfld_guard.c - the up-front memory check of `suri train --optim mfld|pda|psdca`: an
 * estimate of what the particle system and its run allocate, from the configuration and the
 * loaded data, refused (with the estimate and its parts) when it exceeds --memory or the memory
 * available on the machine, before the particles are allocated. The style of train_guard.c
 * for ordinary training. */
#include <math.h>

#include "train_mfld.h"

/* Peak memory in bytes of what suri_mfld_new and the run allocate (src/mfld/mfld.c): the
 * particles and their drift (M, ld) twice, SVRG's snapshot pair, P-SDCA's resampling copy,
 * the chunk buffers (chunk x M twice for SVRG, row blocks of 64), the per-particle vectors, the
 * per-example PDA / P-SDCA state, the gap monitor's samples or grid, the copy a save makes,
 * the data sets, plus the allowance for code and BLAS buffers of ordinary training. */
double mfld_memory(const mfld_opts *o, const suri_dataset *tr, const suri_dataset *te,
                          double *particles, double *buffers) {
  const suri_mfld_config *c = &o->c;
  const double R = (double)sizeof(suri_real), M = (double)c->M, d = (double)tr->dim;
  const double tail = (c->bias ? 1 : 0) + (c->head <= SURI_MFLD_HEAD_BOUNDED ? 1 : 0);
  const double p = d + tail, per_line = 64.0 / R, ld = ceil(p / per_line) * per_line;
  const double ch = (double)c->chunk, nblk = ceil(ch / 64.0), n = (double)tr->n;
  int svrg = c->method == SURI_MFLD_METHOD_MFLD && c->estimator == SURI_MFLD_SVRG;
  *particles = M * ld * R * (2 + (svrg ? 2 : 0) + (c->method == SURI_MFLD_METHOD_PSDCA ? 1 : 0));
  double b = ch * M * R * (svrg ? 2 : 1) + ch * (d * R + 24) + nblk * M * (R + 16);
  b += M * (6 * R + 40 + 8 * (tail > 0 ? tail : 1) * (svrg ? 3 : 1));
  b += n * (c->method == SURI_MFLD_METHOD_PDA ? 25 : c->method == SURI_MFLD_METHOD_PSDCA ? 16 : 0);
  b += n * 8 * 2; /* epoch order, targets */
  double gap_pts = 0;
  if (c->gap == 1 || (c->gap == -1 && p <= 3)) {
    double g = c->gap_grid ? c->gap_grid : (p <= 1 ? 4001 : p <= 2 ? 301 : 64);
    gap_pts = p <= 3 ? pow(g, p) : (double)c->gap_samples;
    b += gap_pts * (p * R + 8) + n * p * 8 + M * 8 * 4;
  }
  b += M * d * R; /* the (M, d) copy of a save */
  double data = 0;
  const suri_dataset *ds[2] = {tr, te};
  for (int i = 0; i < 2; i++)
    if (ds[i]) data += (double)ds[i]->n * ((double)ds[i]->dim * R + 4 + (double)ds[i]->targets * R);
  *buffers = b;
  double runtime = (16.0 + 32.0 * (double)suri_get_threads()) * 1048576.0;
  return *particles + b + data + runtime;
}

static const char *human(double b, char *buf, size_t n) {
  const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int k = 0;
  while (b >= 1024 && k < 4) b /= 1024, k++;
  snprintf(buf, n, "%.1f %s", b, u[k]);
  return buf;
}

int mfld_check_memory(const mfld_opts *o, const suri_dataset *tr, const suri_dataset *te) {
  double parts, bufs, total = mfld_memory(o, tr, te, &parts, &bufs);
  double limit = o->memory > 0 ? o->memory : suri_memory_available();
  if (!(limit > 0) || total <= limit) return CLI_OK;
  char a[32], b[32], t[32], l[32];
  fprintf(stderr, "suri: error: %lld particles of dimension %lld would need about %s (particles "
          "%s, chunk and work buffers %s, data, code and BLAS buffers the rest), more than %s "
          "(%s)\nhint: choose a smaller --particles or --chunk%s\n", (long long)o->c.M,
          (long long)(tr->dim + o->c.bias + (o->c.head <= SURI_MFLD_HEAD_BOUNDED)),
          human(total, t, sizeof t), human(parts, a, sizeof a), human(bufs, b, sizeof b),
          o->memory > 0 ? "the --memory limit" : "the memory available on this machine",
          human(limit, l, sizeof l), o->memory > 0 ? ", or raise --memory" : "");
  return CLI_FAIL;
}

