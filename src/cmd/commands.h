/* One entry point and one usage text per command; the table is in src/main.c. */
#ifndef HSMCERT_COMMANDS_H
#define HSMCERT_COMMANDS_H

#include "cli.h"

#define HC_COMMAND(name)                                                                           \
	int cmd_##name(struct cli *cli, int argc, char **argv);                                    \
	int usage_##name(FILE *out);

HC_COMMAND(tokens)
HC_COMMAND(init_token)
HC_COMMAND(keygen)
HC_COMMAND(import)
HC_COMMAND(list)
HC_COMMAND(check)
HC_COMMAND(deploy)
HC_COMMAND(delete)
HC_COMMAND(csr)
HC_COMMAND(request)
HC_COMMAND(backup)
HC_COMMAND(restore)
HC_COMMAND(show)
HC_COMMAND(audit)
HC_COMMAND(chain)
HC_COMMAND(provision)
HC_COMMAND(export)
HC_COMMAND(enroll)
HC_COMMAND(renew)

#undef HC_COMMAND

#endif
