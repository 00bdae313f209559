/* mlp_mnist.c - train an MLP on the bundled mnist10k digits with the library API and report the
 * test accuracy. One idea: the five calls a C program needs (load data, parse a model spec,
 * build and initialise the model, train, free).
 *   build/examples/mlp_mnist [epochs]      (default 5) */
#include <stdio.h>
#include <stdlib.h>

#include <suri.h>

static int on_event(const suri_train_event *ev, void *user) {
  (void)user;
  if (ev->kind == SURI_EV_EPOCH)
    printf("epoch %lld  train loss %.4f  test accuracy %.2f%%\n", (long long)ev->epoch + 1,
           ev->loss, 100 * ev->test_accuracy);
  return 0; /* non-zero would stop training */
}

int main(int argc, char **argv) {
  int64_t epochs = argc > 1 ? atoll(argv[1]) : 5;
  if (epochs < 1) {
    fprintf(stderr, "usage: mlp_mnist [epochs >= 1]\n");
    return 2;
  }
  suri_dataset *train = NULL, *test = NULL;
  suri_model *m = NULL;
  suri_model_spec spec;
  suri_train_summary sum;
  suri_train_config c = suri_train_defaults();
  c.optim = "adam";
  c.lr = 1e-3;
  c.batch = 64;
  c.epochs = epochs;
  suri_status st = suri_data_load("mnist10k", &train);
  if (!st) st = suri_data_load("mnist10k:test", &test);
  if (!st) st = suri_model_spec_parse("mlp:784-256-10,act=relu", &spec);
  if (!st) st = suri_model_new(&spec, c.batch, &m);
  if (!st) st = suri_model_init(m, 1);
  if (!st) st = suri_train_run(m, train, test, &c, on_event, NULL, &sum);
  if (!st) printf("test accuracy %.2f%% after %lld steps (%.1f s)\n", 100 * sum.test_accuracy,
                  (long long)sum.steps, sum.seconds);
  else fprintf(stderr, "mlp_mnist: %s\n", suri_last_error());
  suri_model_free(m);
  suri_dataset_free(train);
  suri_dataset_free(test);
  return st ? 1 : 0;
}
