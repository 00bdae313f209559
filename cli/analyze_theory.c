/* analyze_theory.c - measured Fisher / Gauss-Newton statistics next to the mean-field theory of
 * wide random networks (Karakida, Akaho & Amari, AISTATS 2019; batch norm in the last layer:
 * NeurIPS 2019; the formulas as suri implements them are in docs/algorithms/fisher_statistics.md
 * and suri/theory.h): mean eigenvalue tr F / P, second moment tr F^2 / P, lambda_max and the
 * critical learning rate 2 / lambda_max, for the empirical Fisher over the T analysed samples,
 * with the input statistics q1 = E[x.x/d], q2 = E[x.x'/d] measured on those samples.
 * The theory's F is the unit-variance Gaussian Fisher (1/T) sum_t J_t^T J_t. suri's Gauss-Newton
 * of the mean loss equals it for ce/logistic (when the theory covers them) and is (2/C) F for
 * mse (the mean over N C squared errors), so the lr comparison scales the prediction by that
 * factor. A model the theory does not cover (the library says why) only skips the comparison. */
#include <math.h>
#include <string.h>

#include "analyze_theory.h"
#include "suri/theory.h"


static void refuse(analyze_ctx *a, const char *reason) {
  if (!strncmp(reason, "theory: ", 8)) reason += 8; /* the library's prefix; ours says it */
  cJSON *t = cJSON_AddObjectToObject(a->json, "theory");
  cJSON_AddBoolToObject(t, "available", 0);
  cJSON_AddStringToObject(t, "reason", reason);
  printf("theory: not available for this model: %s\n(the measurement above stands on its own)\n",
         reason);
}

/* One table row: measured (+- se), predicted, ratio; also into the JSON objects. */
static void row(cJSON *meas, cJSON *pred, cJSON *ratio, const char *key, const char *label,
                double m, double se, double p) {
  double r = (isfinite(m) && isfinite(p) && p != 0) ? m / p : NAN;
  an_json_num(meas, key, m);
  an_json_num(pred, key, p);
  an_json_num(ratio, key, r);
  char mtxt[64];
  if (!isfinite(m)) snprintf(mtxt, sizeof mtxt, "-");
  else if (isfinite(se)) snprintf(mtxt, sizeof mtxt, "%.5g +- %.2g", m, se);
  else snprintf(mtxt, sizeof mtxt, "%.6g", m);
  printf("  %-36s %-22s %-14.6g", label, mtxt, p);
  if (isfinite(r)) printf(" %.4f\n", r);
  else printf(" -\n");
}

static cJSON *layer_array(const double *v, int L) { return an_json_array(v, L + 1); }

static void json_theory(cJSON *t, const suri_fisher_theory *th, double q1, double q2) {
  cJSON_AddBoolToObject(t, "available", 1);
  cJSON *in = cJSON_AddObjectToObject(t, "inputs");
  an_json_num(in, "q1", q1);
  an_json_num(in, "q2", q2);
  cJSON_AddNumberToObject(in, "T", (double)th->T);
  cJSON *p = cJSON_AddObjectToObject(t, "parameters");
  an_json_num(p, "kappa1", th->kappa1);
  an_json_num(p, "kappa2", th->kappa2);
  an_json_num(p, "alpha", th->alpha);
  cJSON_AddNumberToObject(p, "M", (double)th->M);
  cJSON_AddNumberToObject(p, "C", (double)th->C);
  cJSON_AddNumberToObject(p, "P", (double)th->P);
  an_json_num(p, "gram1", th->gram1);
  an_json_num(p, "gram2", th->gram2);
  an_json_num(p, "loss_curv_scale", th->loss_curv_scale);
  cJSON *f = cJSON_AddObjectToObject(t, "fisher");
  an_json_num(f, "mean_eig", th->mean_eig);
  an_json_num(f, "mean_eig_finite", th->mean_eig_finite);
  an_json_num(f, "trace", th->trace);
  an_json_num(f, "second_moment", th->second_moment);
  an_json_num(f, "lambda_max", th->lambda_max);
  an_json_num(f, "lambda_max_bn_last", th->lambda_max_bn_last);
  an_json_num(f, "critical_lr", th->critical_lr);
  an_json_num(f, "critical_lr_loss", th->critical_lr_loss);
  cJSON *op = cJSON_AddObjectToObject(t, "order_parameters");
  cJSON_AddNumberToObject(op, "L", th->L);
  cJSON_AddItemToObject(op, "q1", layer_array(th->q1, th->L));
  cJSON_AddItemToObject(op, "q2", layer_array(th->q2, th->L));
  cJSON_AddItemToObject(op, "qhat1", layer_array(th->qhat1, th->L));
  cJSON_AddItemToObject(op, "qhat2", layer_array(th->qhat2, th->L));
  cJSON_AddItemToObject(op, "qtil1", layer_array(th->qtil1, th->L));
  cJSON_AddItemToObject(op, "qtil2", layer_array(th->qtil2, th->L));
}

static void header(const analyze_ctx *a, const suri_fisher_theory *th, double q1, double q2) {
  printf("mean-field theory (Karakida, Akaho & Amari 2019) for T = %lld samples, input "
         "statistics of the data q1 = %.4g, q2 = %.4g:\n  kappa1 = %.6g, kappa2 = %.6g, "
         "alpha = %.4g, M = %lld, C = %lld\n", (long long)th->T, q1, q2, th->kappa1, th->kappa2,
         th->alpha, (long long)th->M, (long long)th->C);
  if (!a->o->model_is_spec)
    printf("  note: the theory describes a randomly initialised network; %s holds the "
           "parameters it was saved with\n", a->o->model);
}

/* Which lambda_max the measurement is comparable with: the last-layer batch norm removes the
 * outlier only when its statistics are those of all T samples (training-mode statistics over
 * one chunk holding every sample); in eval mode at initialisation it is the identity. */
static int bn_centred(const analyze_ctx *a) {
  const suri_model_spec *s = suri_model_get_spec(a->m);
  return s->norm == SURI_NORM_LASTBATCH && a->o->batch_stats &&
         suri_model_max_batch(a->m) >= a->n;
}

int an_theory_compare(analyze_ctx *a, const an_measured *m, int lr_mode) {
  const suri_model_spec *s = suri_model_get_spec(a->m);
  double q1 = NAN, q2 = NAN;
  suri_status st = suri_theory_input_stats(a->d, a->n, &q1, &q2);
  suri_theory_opts to = suri_theory_defaults();
  to.input_q1 = q1, to.input_q2 = q2;
  suri_fisher_theory th;
  memset(&th, 0, sizeof th);
  if (!st) st = suri_theory_fisher(s, a->n, &to, &th);
  if (st) {
    refuse(a, suri_last_error());
    return CLI_OK;
  }
  cJSON *t = cJSON_AddObjectToObject(a->json, "theory");
  json_theory(t, &th, q1, q2);
  header(a, &th, q1, q2);
  /* The measured operator against the theory's F: the GN of the model's loss is
   * loss_curv_scale x F (mse: exactly 2/C); the true Fisher of a loss=mse model is F itself,
   * that of ce/logistic models the softmax/Bernoulli Fisher = their GN. */
  double sc = (!lr_mode && s->loss == SURI_LOSS_MSE) ? 1.0 : th.loss_curv_scale;
  double lmax = sc * (bn_centred(a) ? th.lambda_max_bn_last : th.lambda_max);
  /* Tr F^2 = s_lambda alpha M^2 at leading order; per exact parameter like the measurement. */
  double second = sc * sc * th.second_moment * th.alpha * (double)th.M * (double)th.M /
                  (double)th.P;
  cJSON_AddNumberToObject(t, "scale", sc);
  cJSON_AddStringToObject(t, "compared_lambda_max", bn_centred(a) ? "lambda_max_bn_last"
                                                                   : "lambda_max");
  cJSON *meas = cJSON_AddObjectToObject(t, "measured"), *pred = cJSON_AddObjectToObject(t, "predicted");
  cJSON *ratio = cJSON_AddObjectToObject(t, "ratio");
  if (sc != 1.0)
    printf("  predictions for the %s: %.4g x the Gaussian-output Fisher (%s)\n",
           lr_mode ? "Gauss-Newton of the mean loss" : "model's Fisher", sc,
           s->loss == SURI_LOSS_MSE ? "loss=mse: exactly 2/C"
                                    : "the theory's approximate loss curvature scale");
  printf("  %-36s %-22s %-14s %s\n", "quantity", "measured", "predicted", "measured/predicted");
  double crit_m = m->lambda_max > 0 ? 2.0 / m->lambda_max : NAN;
  if (!lr_mode) {
    row(meas, pred, ratio, "trace", "trace", m->mean * m->P, m->mean_se * m->P, sc * th.trace);
    row(meas, pred, ratio, "mean_eig", "mean eigenvalue tr/P", m->mean, m->mean_se,
        sc * th.mean_eig_finite);
    row(meas, pred, ratio, "second_moment", "second moment tr(A^2)/P", m->second, m->second_se,
        second);
  }
  row(meas, pred, ratio, "lambda_max", bn_centred(a) ? "lambda_max (batch norm in last layer)"
      : "lambda_max", m->lambda_max, NAN, lmax);
  row(meas, pred, ratio, "critical_lr", "critical lr 2/lambda_max", crit_m, NAN,
      lmax > 0 ? 2.0 / lmax : NAN);
  return CLI_OK;
}
