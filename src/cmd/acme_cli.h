/*
 * The ACME options enroll and renew share (server, account, EAB, http-01,
 * trust anchors), the account's report, and the issued certificate's
 * report. Options are numbered from ACME_OPT_FIRST.
 */
#ifndef HSMCERT_CMD_ACME_CLI_H
#define HSMCERT_CMD_ACME_CLI_H

#include "cli.h"

#include "hsmcert/enroll.h"

enum {
	ACME_OPT_FIRST = CLI_OPT_FIRST_COMMAND_OPTION + 0x80,
	ACME_OPT_ACME = ACME_OPT_FIRST,
	ACME_OPT_ACCOUNT_KEY,
	ACME_OPT_CONTACT,
	ACME_OPT_AGREE_TOS,
	ACME_OPT_EAB_KID,
	ACME_OPT_EAB_HMAC_SOURCE,
	ACME_OPT_HTTP_PORT,
	ACME_OPT_WEBROOT,
	ACME_OPT_ACME_ROOTS,
	ACME_OPT_ROOTS,
	ACME_OPT_WAIT,
};

#define ACME_CLI_OPTIONS                                                                           \
	{"acme", required_argument, NULL, ACME_OPT_ACME},                                          \
		{"account-key", required_argument, NULL, ACME_OPT_ACCOUNT_KEY},                    \
		{"contact", required_argument, NULL, ACME_OPT_CONTACT},                            \
		{"agree-tos", no_argument, NULL, ACME_OPT_AGREE_TOS},                              \
		{"eab-kid", required_argument, NULL, ACME_OPT_EAB_KID},                            \
		{"eab-hmac-source", required_argument, NULL, ACME_OPT_EAB_HMAC_SOURCE},            \
		{"http-port", required_argument, NULL, ACME_OPT_HTTP_PORT},                        \
		{"webroot", required_argument, NULL, ACME_OPT_WEBROOT},                            \
		{"acme-roots", required_argument, NULL, ACME_OPT_ACME_ROOTS},                      \
		{"roots", required_argument, NULL, ACME_OPT_ROOTS},                                \
	{                                                                                          \
		"wait", required_argument, NULL, ACME_OPT_WAIT                                     \
	}

#define ACME_CLI_USAGE                                                                             \
	"ACME (RFC 8555):\n"                                                                       \
	"  --acme URL               the CA's directory URL (https://); required\n"                 \
	"  --account-key URI        the account key on the token; default: the key\n"              \
	"                           labelled 'acme-account', made on first use (EC\n"              \
	"                           P-256, sensitive, never extractable)\n"                        \
	"  --contact URI            account contact, e.g. mailto:pki@example.hk (repeatable)\n"    \
	"  --agree-tos              agree to the CA's terms of service (new accounts)\n"           \
	"  --eab-kid ID             External Account Binding key id from the CA\n"                 \
	"  --eab-hmac-source SRC    its HMAC key (base64url) from env:VAR, file:PATH or fd:N\n"    \
	"  --http-port N            answer http-01 on port N, only while the order runs\n"         \
	"                           (default 80)\n"                                                \
	"  --webroot DIR            or write the answers under DIR/.well-known/acme-challenge/\n"  \
	"                           for a running web server (removed afterwards)\n"               \
	"  --acme-roots FILE        trust anchors for the CA's TLS (default: system store)\n"      \
	"  --roots PATH             trust anchors for the issued chain (default: --acme-roots\n"   \
	"                           if given, else the system store)\n"                            \
	"  --wait SECONDS           longest wait for the CA at each step (default 300)\n"

struct acme_cli {
	hc_acme_setup setup;
	const char *contacts[17];
	size_t contact_count;
	const char *eab_hmac_source;
	unsigned char *eab_hmac;
	bool http_port_given;
	const char *bad_option; /* a malformed value, reported after parsing */
};

void acme_cli_init(struct acme_cli *a);
/* Take option `c` when it is one of ACME_CLI_OPTIONS; false otherwise. */
bool acme_cli_option(struct acme_cli *a, int c, const char *arg);
/* After parsing: required options, exclusive ones, the EAB key read and decoded. */
hc_rc acme_cli_finish(struct acme_cli *a, hc_error *err);
void acme_cli_clear(struct acme_cli *a);

/* {url, created, key_created, key:{...}} */
json_t *acme_cli_json_account(const hc_acme_session *s);
void acme_cli_print_account(const hc_acme_session *s);

/* {key, key_created, certificate, ca_certificates, chain:{...}, order_url, ...} */
json_t *acme_cli_json_enrolled(const hc_enroll_result *r, const char *chain_out, time_t now);
void acme_cli_print_enrolled(const hc_enroll_result *r, const char *chain_out, time_t now,
			     int indent);

#endif
