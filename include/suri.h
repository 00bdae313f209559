/* suri.h - the whole public API of libsuri.
 *
 * Train an MLP on the bundled MNIST digits:
 *
 *   #include <suri.h>
 *   suri_dataset *train, *test;
 *   suri_data_load("mnist10k", &train);
 *   suri_data_load("mnist10k:test", &test);
 *   suri_model_spec spec;
 *   suri_model_spec_parse("mlp:784-256-10,act=relu", &spec);
 *   suri_model *m;
 *   suri_model_new(&spec, 128, &m);          // compiled for batches up to 128
 *   suri_model_init(m, 1);                   // seed 1
 *   suri_train_config c = suri_train_defaults();
 *   c.optim = "adam"; c.lr = 1e-3; c.epochs = 5;
 *   suri_train_summary s;
 *   if (suri_train_run(m, train, test, &c, NULL, NULL, &s) != SURI_OK)
 *     fprintf(stderr, "%s\n", suri_last_error());
 *   printf("test accuracy %.4f\n", s.test_accuracy);
 *   suri_model_free(m); suri_dataset_free(train); suri_dataset_free(test);
 *
 * Every call that can fail returns suri_status; suri_last_error() holds the detail. The library
 * never prints and never exits.
 */
#ifndef SURI_H
#define SURI_H

#include "suri/core.h"
#include "suri/linalg.h"
#include "suri/graph.h"
#include "suri/nn.h"
#include "suri/optim.h"
#include "suri/io.h"
#include "suri/data.h"
#include "suri/train.h"
#include "suri/analysis.h"
#include "suri/theory.h"
#include "suri/langevin.h"
#include "suri/mfld.h"

#endif
