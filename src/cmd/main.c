/* hsmcert: the command table and global option parsing. */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hsmcert/version.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HSMCERT_HAS_ASAN 1
#endif
#endif
#ifndef HSMCERT_HAS_ASAN
#define HSMCERT_HAS_ASAN 0
#endif

static const struct cli_command commands[] = {
	{"tokens", cmd_tokens, usage_tokens, "list modules, slots and tokens"},
	{"init-token", cmd_init_token, usage_init_token, "initialise a token"},
	{"keygen", cmd_keygen, usage_keygen, "generate a key pair inside the token"},
	{"csr", cmd_csr, usage_csr, "certificate request signed by a key on the token"},
	{"request", cmd_request, usage_request, "generate a key pair and its certificate request"},
	{"show", cmd_show, usage_show, "describe certificates, requests, CRLs, PKCS#7, PKCS#12"},
	{"provision", cmd_provision, usage_provision,
	 "keys and requests for many entries of a plan"},
	{"chain", cmd_chain, usage_chain, "assemble and verify the chain a server sends"},
	{"import", cmd_import, usage_import, "store the CA's certificate next to its key"},
	{"export", cmd_export, usage_export, "write a certificate (and chain) from the token"},
	{"list", cmd_list, usage_list, "keys and certificates on the token, with status"},
	{"check", cmd_check, usage_check,
	 "prove a key, its certificate and chain work (--tls, --connect)"},
	{"deploy", cmd_deploy, usage_deploy, "put the certificate in service in nginx or Apache"},
	{"delete", cmd_delete, usage_delete, "destroy keys and certificates a URI names"},
	{"backup", cmd_backup, usage_backup, "save keys wrapped: encrypted backup or PKCS#12"},
	{"restore", cmd_restore, usage_restore, "restore a backup or PKCS#12 into the token"},
	{"audit", cmd_audit, usage_audit, "report whether keys can leave the token"},
	{"enroll", cmd_enroll, usage_enroll, "get a certificate over ACME, keys on the token"},
	{"renew", cmd_renew, usage_renew, "renew due certificates over ACME (for timers)"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static int usage_main(FILE *out)
{
	fprintf(out, "Usage: hsmcert [GLOBAL OPTIONS] COMMAND [OPTIONS]\n"
		     "       hsmcert help COMMAND | hsmcert COMMAND --help | hsmcert --version\n\n"
		     "A TLS server certificate whose private key lives on a PKCS#11 token.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n" CLI_GLOBAL_USAGE "  -V, --version            print the version\n\n"
		     "Exit status: 0 success, 1 a check failed or existing state was protected,\n"
		     "2 usage or malformed input, 3 token or PKCS#11 error, 4 file or network "
		     "I/O.\n");
	return 0;
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int run(int argc, char **argv)
{
	static const struct option options[] = {{"version", no_argument, NULL, 'V'},
						CLI_GLOBAL_OPTIONS};
	struct cli cli = {0};
	const struct cli_command *cmd;
	int c, r;

	setlocale(LC_CTYPE, "");
	cli_set_arguments(&cli, argc, argv);
	opterr = 0; /* bad options are reported by messages.c, with the one error prefix */
	/* "+": stop at the command name; its own options are parsed by the command. */
	while ((c = getopt_long(argc, argv, "+hV", options, NULL)) != -1) {
		if (c == 'h')
			return usage_main(stdout);
		if (c == 'V') {
			printf("hsmcert %s (%s)\n", HSMCERT_VERSION,
			       OpenSSL_version(OPENSSL_VERSION));
			return 0;
		}
		r = cli_common_option(&cli, c, optarg, usage_main);
		if (r != CLI_NEXT)
			return r;
	}
	if (optind >= argc) {
		usage_main(stderr);
		return cli_usage_error(&cli, "no command given");
	}
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 >= argc)
			return usage_main(stdout);
		if (!(cmd = find_command(argv[optind + 1])))
			return cli_usage_error(&cli, "unknown command '%s'", argv[optind + 1]);
		return cmd->usage(stdout);
	}
	cmd = find_command(argv[optind]);
	if (!cmd)
		return cli_usage_error(&cli, "unknown command '%s'", argv[optind]);
	cli.command = cmd->name;
	cli_apply_environment(&cli);

	/* The command parses argv from its own name on; reset getopt fully (glibc: 0). */
	argc -= optind;
	argv += optind;
	optind = 0;
	cli_set_arguments(&cli, argc, argv);
	return cmd->run(&cli, argc, argv);
}

/*
 * SPEC: secrets never leave the process. PINs, passphrases and derived keys
 * are in memory while a command runs: no core file may hold them, whatever
 * the shell's ulimit or a core_pattern pipe (which ignores RLIMIT_CORE).
 */
static void no_core_dumps(void)
{
	struct rlimit none = {0, 0};

	setrlimit(RLIMIT_CORE, &none);
	/*
	 * Under AddressSanitizer (the test builds) core dumps are off already and
	 * LeakSanitizer must ptrace the process at exit, which an undumpable
	 * process refuses to a user without CAP_SYS_PTRACE.
	 */
#if !defined(__SANITIZE_ADDRESS__) && !HSMCERT_HAS_ASAN
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

/*
 * A closed standard stream would be the next file we open: output meant for
 * the terminal would land in a token's file or a backup. Hold its place with
 * a descriptor every write to fails on, so the failure is seen and reported.
 */
static void hold_standard_streams(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDONLY) != fd)
			_exit(HC_IO);
}

int main(int argc, char **argv)
{
	int r;

	hold_standard_streams();
	no_core_dumps();
	r = run(argc, argv);
	/* Output that did not reach stdout (disk full, closed pipe) is an I/O error, said so. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "hsmcert: error: writing standard output: %s\n",
			errno ? strerror(errno) : "write error");
		if (r == 0 || r == HC_CHECK)
			r = HC_IO;
	}
	return r;
}
