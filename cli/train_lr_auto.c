/* train_lr_auto.c - `suri train --lr auto[=F]`: the learning rate from the curvature of the
 * training loss at initialisation. Gradient descent with step eta on the local quadratic model
 * of the loss multiplies the component along the top eigenvector of its Hessian by
 * (1 - eta lambda_max), so it diverges for eta > 2 / lambda_max (the classical stability limit;
 * Cohen et al. 2021 show training hovering at that "edge of stability"). Near initialisation
 * the Hessian is dominated by its Gauss-Newton part (exactly equal for ce/logistic at zero
 * residual, Karakida, Akaho & Amari 2019 for wide networks), which is positive semi-definite and
 * cheap to apply, so lambda_max is that of the Gauss-Newton matrix of the model's own mean loss
 * over the first --lr-samples training samples, by Lanczos (suri/analysis.h) to a relative
 * residual of 1e-3 (the eigenvalue is then accurate to ~1e-6 for a separated top eigenvalue).
 * The operator uses training-mode statistics as the steps will: batch norm per chunk of
 * --batch samples, dropout masks (fixed while the eigensolver runs). The model's parameters,
 * state and dropout stream are left as they were. lr = F * 2 / lambda_max. */
#include <math.h>
#include <string.h>

#include "suri/analysis.h"
#include "train_cli.h"

#define LR_AUTO_TOL 1e-3

int train_lr_auto(train_opts *o, suri_model *m, const suri_dataset *train) {
  int64_t n = o->lr_samples < train->n ? o->lr_samples : train->n;
  suri_analysis_data d = suri_analysis_data_of(train);
  d.n = n;
  suri_curv_opts co = suri_curv_defaults();
  co.kind = SURI_CURV_GGN;
  co.batch_stats = 1;
  co.seed = o->seed;
  suri_curv *c = NULL;
  double t0 = cli_now();
  suri_status st = suri_curv_new(m, &d, &co, &c);
  if (st) return cli_fail(st, "--lr auto: cannot set up the Gauss-Newton operator");
  suri_linop A = suri_curv_linop(c);
  suri_eig_opts eo = suri_eig_defaults();
  eo.k = 1;
  eo.tol = LR_AUTO_TOL;
  eo.seed = o->seed;
  double lam = NAN;
  suri_solver_info info;
  st = suri_eig_lanczos(&A, &eo, &lam, NULL, NULL, &info);
  suri_curv_free(c);
  if (st) return cli_fail(st, "--lr auto: estimating lambda_max of the Gauss-Newton failed");
  if (!(lam > 0) || !isfinite(lam))
    return cli_fail(SURI_OK, "--lr auto: lambda_max of the Gauss-Newton is %g on %lld samples, "
                    "so 2/lambda_max gives no learning rate; give --lr X", lam, (long long)n);
  o->lr_lambda_max = lam;
  o->lr_auto_n = n;
  o->lr = o->lr_auto * 2.0 / lam;
  if (o->quiet || o->json) return CLI_OK;
  fprintf(stderr, "lr auto: lambda_max(GN) = %.6g on %lld samples -> lr = %g x 2/lambda_max = "
          "%.6g\n  (gradient descent diverges above 2/lambda_max = %.6g; Lanczos, %d products, "
          "%.2g s)\n", lam, (long long)n, o->lr_auto, o->lr, 2.0 / lam, (int)info.applications,
          cli_now() - t0);
  if (strcmp(o->optim, "sgd") != 0 && strcmp(o->optim, "momentum") != 0)
    fprintf(stderr, "  note: 2/lambda_max is the stability limit of plain gradient descent; %s "
            "rescales its steps, so for it this lr is only a starting point\n", o->optim);
  else if (o->momentum > 0)
    fprintf(stderr, "  note: with momentum %g the heavy-ball limit is 2(1 + momentum)/lambda_max "
            "= %.6g\n", o->momentum, 2.0 * (1.0 + o->momentum) / lam);
  return CLI_OK;
}
