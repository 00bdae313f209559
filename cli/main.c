/* main.c - the suri command: a table of subcommands, each in its own cmd_*.c. This file only
 * dispatches: `suri COMMAND [OPTIONS]`, `suri help [COMMAND]`, `suri version`, and -h/--help,
 * --version at the top level. Exit codes: 0 success, 1 failure, 2 bad usage (see cli.h). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int cmd_version(int argc, char **argv);
static void usage_version(FILE *f);
static int cmd_help(int argc, char **argv);
static void usage_help(FILE *f);

static const cli_command commands[] = {
    {"train", "train a model (default: an MLP on the bundled mnist10k)", cmd_train, usage_train},
    {"eval", "loss and accuracy of a saved model on a data set", cmd_eval, usage_eval},
    {"predict", "logits of a saved model for inputs in an NPY file", cmd_predict, usage_predict},
    {"analyze", "curvature spectra, NTK Gram, critical learning rate", cmd_analyze, usage_analyze},
    {"info", "describe a model file or a data set", cmd_info, usage_info},
    {"bench", "time training or inference steps on synthetic data", cmd_bench, usage_bench},
    {"version", "print the version, scalar type and BLAS", cmd_version, usage_version},
    {"help", "show help for suri or one command", cmd_help, usage_help},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const cli_command *find_command(const char *name) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

static void usage_main(FILE *f) {
  fprintf(f, "usage: suri COMMAND [OPTIONS]\n\n"
             "suri trains neural networks on the CPU and analyses them.\n\ncommands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n'suri help COMMAND' or 'suri COMMAND --help' shows a command's options.\n"
             "Exit status: 0 success, 1 failure, 2 bad usage, 130/143 training interrupted\n"
             "by SIGINT/SIGTERM (a checkpoint was written).\n");
}

static void usage_version(FILE *f) {
  fprintf(f, "usage: suri version\n\nPrints the suri version, the scalar type of this build "
             "(f32 or f64) and the BLAS\nkernel set in use.\n");
}

static int cmd_version(int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    usage_version(stdout);
    return CLI_OK;
  }
  if (argc >= 2) return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
  printf("suri %s (%s, BLAS %s)\n", SURI_VERSION_STRING, SURI_REAL_NAME, suri_blas_info());
  return CLI_OK;
}

static void usage_help(FILE *f) {
  fprintf(f, "usage: suri help [COMMAND]\n\nShows the list of commands, or one command's "
             "options with their defaults.\n");
}

static int cmd_help(int argc, char **argv) {
  if (argc < 2) {
    usage_main(stdout);
    return CLI_OK;
  }
  if (argc > 2) return cli_usage_error("help", "unexpected argument '%s'", argv[2]);
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage_help(stdout);
    return CLI_OK;
  }
  const cli_command *c = find_command(argv[1]);
  if (!c) return cli_usage_error("help", "unknown command '%s'", argv[1]);
  c->usage(stdout);
  return CLI_OK;
}

int main(int argc, char **argv) {
  /* A write past the file-size limit (ulimit -f) then fails with EFBIG, which the atomic
   * writer reports and cleans up, instead of killing the process with SIGXFSZ mid-file. */
  signal(SIGXFSZ, SIG_IGN);
  cli_remember_argv(argv);
  if (argc < 2) {
    usage_main(stderr);
    return CLI_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
    usage_main(stdout);
    return CLI_OK;
  }
  if (strcmp(name, "--version") == 0) return cmd_version(1, argv + 1);
  const cli_command *c = find_command(name);
  if (!c) {
    fprintf(stderr, "suri: unknown command '%s'\nsee 'suri help'\n", name);
    return CLI_USAGE;
  }
  return c->run(argc - 1, argv + 1);
}
