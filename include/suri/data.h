/* suri/data.h - data sets: loading from spec strings (the bundled mnist10k, IDX, NPY, CSV, and
 * synthetic Gaussian mixtures and teacher networks), normalisation whose statistics train and
 * test share, and deterministic shuffled minibatches.
 *
 * Usage:
 *   suri_dataset *tr = NULL, *te = NULL;
 *   if (suri_data_load("mnist10k,norm=standard", &tr) != SURI_OK ||
 *       suri_data_load("mnist10k:test,norm=none", &te) != SURI_OK ||
 *       suri_dataset_normalize_like(te, tr) != SURI_OK)          // test gets train's mean/std
 *     fprintf(stderr, "%s\n", suri_last_error());
 *   int64_t *order = malloc(tr->n * sizeof *order);
 *   for (int64_t epoch = 0; epoch < E; epoch++) {
 *     suri_data_epoch_order(tr, seed, epoch, order);            // depends on (seed, epoch) only
 *     for (int64_t b = 0; b < suri_data_num_batches(tr->n, B, drop_last); b++) {
 *       int64_t lo = b * B, cnt = tr->n - lo < B ? tr->n - lo : B;
 *       suri_data_gather(tr, order + lo, cnt, xb, yb, NULL);    // xb: (B, dim), yb: (B)
 *       ...
 *   }}
 *   suri_dataset_free(tr); suri_dataset_free(te);
 *
 * ---- Spec grammar ------------------------------------------------------------------------------
 *   KIND[:ARG[,ARG...]][,key=value...]      (parts separated by ','; a part holding '=' is an
 *                                            option, any other part is a positional argument,
 *                                            so file names may contain neither ',' nor '=')
 *   mnist10k[:train|test|all]     the bundled 10,000 MNIST digits (data/mnist10k/README.md):
 *                                 train = 8,000, test = 2,000, all = train then test. 28x28 u8.
 *                                 Looked up in $SURI_DATA_DIR/mnist10k if that variable is set
 *                                 (and only there), else in the first that has it of
 *                                 SURI_DATA_DIR_DEFAULT/mnist10k (compile-time string: the
 *                                 installed data folder), SURI_DATA_DIR_SOURCE/mnist10k
 *                                 (compile-time string: the source tree's data/) and
 *                                 ./data/mnist10k.
 *   idx:IMAGES[,LABELS]           IDX files, plain or gzip (LeCun's MNIST downloads as they are):
 *                                 images (N, H, W) or (N, D) of any IDX type; labels (N) of
 *                                 integer values (any IDX type). Without LABELS the set is
 *                                 unlabelled.
 *   npy:X.npy[,Y.npy]             X: (N, ...) f4/f8/u1/i1/i2/i4/i8, flattened to (N, D) (a rank-3
 *                                 X (N, H, W) records H, W as the image size). Y: integer dtype,
 *                                 (N) or (N, 1) -> class labels; float dtype, (N) or (N, K) ->
 *                                 regression targets. Without Y the set is unlabelled. (b1
 *                                 bool arrays read as u8, so norm=scale is their default too.)
 *   csv:FILE                      numeric CSV (see suri_csv_read). Options:
 *       label=COL|none            class-label column (default -1 = last): a 0-based index, a
 *                                 negative index counted from the end, or a header name;
 *       target=COL                instead of label: one regression-target column;
 *       delim=C                   one character that cannot occur in a number, or
 *                                 tab|space|semicolon|comma|pipe (default ',');
 *       header=0|1|auto           (default auto: a first row with a non-number is a header).
 *                                 All other columns are features, in file order.
 *   gauss:n=N,d=D,classes=C,sep=S,seed=K,split=train|test
 *                                 Gaussian mixture (defaults n=1000, d=10, classes=2, sep=3,
 *                                 seed=0, split=train). Class means mu_c ~ N(0, (sep^2/d) I_d),
 *                                 so E|mu_c|^2 = sep^2 and E|mu_c - mu_c'|^2 = 2 sep^2;
 *                                 sample i has label i mod C (balanced) and
 *                                 x_i = mu_{y_i} + N(0, I_d).
 *   teacher:n=N,d=D,out=K,width=W,act=A,noise=S,seed=K,split=train|test
 *                                 regression from a random two-layer teacher (defaults n=1000,
 *                                 d=10, out=1, width=100, act=tanh, noise=0, seed=0):
 *                                 x ~ N(0, I_d), w_j ~ N(0, I_d / d), a_jk ~ N(0, 1),
 *                                 t_k = sum_j a_jk act(w_j . x) / sqrt(W) + S eps_k, eps ~ N(0,1).
 *                                 act: relu, leaky_relu, tanh, sigmoid, gelu, erf, softplus,
 *                                 identity (the names of suri/nn.h).
 *   parity:n=N,d=D,k=K,seed=S,split=train|test
 *                                 k-sparse parity (defaults n=2000, d=20, k=3, seed=0): x
 *                                 uniform on {-1,+1}^d, label 1 if x_1 ... x_k = +1, else 0.
 *     Synthetic sets draw from the Philox stream (seed, SURI_RNG_DATA). The distribution (means,
 *     teacher weights) depends on the seed and the sizes only; sample i of a split is drawn from
 *     its own counter range, so n=100 is a prefix of n=1000 and split=test gives fresh samples
 *     of the SAME distribution (use it for the test set).
 * Options for every kind:
 *   norm=none|scale|standard      scale: x / 255, for u8 sources only (the default for them;
 *                                 other sources default to none). standard: per-feature z-score
 *                                 with this set's mean and (population) standard deviation, after
 *                                 the scale for u8 sources; a feature whose std is at most 1e-6
 *                                 of its largest |x| counts as constant and gets std 1 (it is
 *                                 only centred).
 *   limit=N                       keep at most the first N samples (N >= 1).
 *
 * ---- Errors ------------------------------------------------------------------------------------
 * suri_data_load returns SURI_ERR_ARG for a bad spec (unknown kind - the message lists the known
 * ones -, unknown or repeated option, bad value), SURI_ERR_IO for a missing/unreadable file,
 * SURI_ERR_FORMAT for malformed content (N of X and Y differ, labels negative, not integers or
 * >= 2^31, NaN/Inf features - the message names row and column -, zero samples), SURI_ERR_NOMEM
 * (out of memory, or more than 2^31 feature or target values in one set).
 * The message always names the spec part or file and the problem.
 */
#ifndef SURI_DATA_H
#define SURI_DATA_H

#include "suri/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What has been applied to a data set's features (x). */
typedef enum suri_data_norm {
  SURI_DATA_NORM_NONE,     /* raw values */
  SURI_DATA_NORM_SCALE,    /* x = raw / 255 (u8 sources) */
  SURI_DATA_NORM_STANDARD  /* x = (raw - mean) / std per feature */
} suri_data_norm;

const char *suri_data_norm_name(suri_data_norm k); /* "none", "scale", "standard" */

/* A data set in memory. Transparent: read the fields; create with suri_data_load or
 * suri_dataset_new, free with suri_dataset_free (all arrays are owned by the set). */
typedef struct suri_dataset {
  int64_t n, dim;        /* samples, features per sample */
  int64_t classes;       /* number of classes (max label + 1); 0 = no class labels */
  int64_t targets;       /* regression target dimension; 0 = no regression targets */
  suri_real *x;          /* (n, dim) features, 64-byte aligned */
  int32_t *y;            /* (n) class labels in [0, classes), or NULL */
  suri_real *t;          /* (n, targets) regression targets, or NULL */
  char name[256];        /* e.g. "mnist10k:train", or the spec */
  int64_t img_h, img_w;  /* image height/width when the samples are images, else 0 */
  /* Normalisation state of x: raw values, divided by 255 (`scaled`, u8 sources), then
   * standardised (x - mean) / std if mean/std are set. norm names the last step applied:
   * NONE, SCALE (scaled only) or STANDARD (mean/std set; scaled says whether a scale came
   * first). mean/std: (dim), non-NULL exactly when norm == SURI_DATA_NORM_STANDARD; give them
   * to another set with suri_dataset_normalize_like. */
  suri_data_norm norm;
  int scaled;
  double *mean, *std;
  /* Compact storage (suri_data_load_u8): the raw u8 features (n, dim), and then x == NULL.
   * A value is x8 / 255 when scaled, else x8 (the same float suri_data_load gives); norm is
   * NONE or SCALE. NULL for every set in float storage. */
  uint8_t *x8;
} suri_dataset;

/* Loads a data set from a spec string (grammar above). *out is set only on success. */
suri_status suri_data_load(const char *spec, suri_dataset **out);

/* As suri_data_load, but a set of u8 features (mnist10k, u8 IDX or NPY files) with norm=scale
 * or norm=none keeps them as u8 in x8 (x = NULL): a quarter of the memory and no conversion
 * up front. suri_data_gather converts the rows it copies, suri_train_run reads such sets, and
 * suri_dataset_normalize_like and suri_dataset_info accept them; any other reader of d->x must
 * call suri_dataset_dense first. Other sets load exactly as with suri_data_load. */
suri_status suri_data_load_u8(const char *spec, suri_dataset **out);
/* Converts a compact set to float storage in place (x allocated, x8 freed; the values are
 * those suri_data_load gives). No-op for a set in float storage. SURI_ERR_NOMEM. */
suri_status suri_dataset_dense(suri_dataset *d);

/* An empty data set with allocated x (n, dim) zeroed, y (n) if classes > 0, t (n, targets) if
 * targets > 0; norm = none. n >= 1, dim >= 1, classes >= 0, targets >= 0. */
suri_status suri_dataset_new(int64_t n, int64_t dim, int64_t classes, int64_t targets,
                             const char *name, suri_dataset **out);
void suri_dataset_free(suri_dataset *d); /* NULL-safe */

/* ---- normalisation ------------------------------------------------------------------------ */
/* Standardises d's features in place, x = (x - mean) / std per feature. mean and std: (dim)
 * given statistics (e.g. a training set's, stored with a model), or both NULL to compute them
 * from d (population std; near-constant features get std 1, as described above). std values
 * must be > 0 and finite. If d is already standardised it is first brought back to its
 * unstandardised values (x * std + mean; exact up to rounding). d keeps copies of the
 * statistics in d->mean / d->std. */
suri_status suri_dataset_standardize(suri_dataset *d, const double *mean, const double *std);

/* Brings test into train's normalisation state: test's own standardisation (if any) is undone,
 * its scale made equal to train's (x * 255 or x / 255 where exactly one of them is scaled), and
 * if train is standardised, TRAIN's mean/std are applied (and copied into test). One rounding
 * per value; exact (bit-identical to loading test in train's state and standardising with the
 * same statistics) when test arrives unstandardised with train's scale, e.g. both loaded from
 * u8 sources with the default norm or train with norm=standard. SURI_ERR_SHAPE if the feature
 * dimensions differ. */
suri_status suri_dataset_normalize_like(suri_dataset *test, const suri_dataset *train);

/* ---- minibatches -------------------------------------------------------------------------- */
/* The sample order of one epoch: idx (n) = a permutation of 0..n-1 that depends only on
 * (seed, epoch, n): the Fisher-Yates shuffle of the Philox stream (seed, SURI_RNG_SHUFFLE)
 * started at block counter epoch * 2^40. Resuming a run at (epoch e, step s) therefore sees
 * exactly the batches an uninterrupted run would. Requires epoch >= 0 (and n < 2^40). */
void suri_data_epoch_order(const suri_dataset *d, uint64_t seed, int64_t epoch, int64_t *idx);

/* Number of batches of size `batch` in one epoch of n samples: ceil(n / batch), or
 * floor(n / batch) if drop_last (the last partial batch is skipped; that is the caller's
 * choice). Batch k covers idx[k*batch, min((k+1)*batch, n)). Returns 0 if batch < 1. */
int64_t suri_data_num_batches(int64_t n, int64_t batch, int drop_last);

/* Copies the rows idx[0..count) of d into contiguous buffers, without allocating (the u8
 * features of a compact set are converted on the way):
 * xb: (count, dim); yb: (count) if non-NULL and d has labels; tb: (count, targets) if non-NULL
 * and d has targets. idx values must lie in [0, n). */
void suri_data_gather(const suri_dataset *d, const int64_t *idx, int64_t count, suri_real *xb,
                      int32_t *yb, suri_real *tb);

/* ---- inspection --------------------------------------------------------------------------- */
/* counts: (classes) number of samples per class. No-op if d has no labels. */
void suri_dataset_class_counts(const suri_dataset *d, int64_t *counts);

/* One-line human summary into buf (always NUL-terminated when n > 0), e.g.
 * "mnist10k:train: 8000 samples x 784 features (28x28 images), 10 classes
 *  [0:801 1:902 ...], x in [0, 1], norm=scale".
 * SURI_ERR_ARG if d or buf is NULL, n == 0, or the text had to be truncated. */
suri_status suri_dataset_info(const suri_dataset *d, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
