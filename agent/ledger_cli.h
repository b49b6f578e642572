/* ledger_cli.h - `dcem-agent ledger ...`: key generation and verification of
 * the certification ledger (agent/ledger.c) from the command line. */
#ifndef DCEM_LEDGER_CLI_H
#define DCEM_LEDGER_CLI_H

/* argv[0] is "dcem-agent", argv[1] "ledger". Exit status: 0 verified / key
 * written, 1 usage or bad key, 2 the ledger does not verify or cannot be read. */
int dcem_ledger_cli(int argc, char **argv);

#endif
