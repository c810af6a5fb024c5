/*
 * The options csr, request and enroll share (an OpenSSL req config,
 * subject, SANs, profile, digest, output) and the report they print. Each command keeps its own
 * options enum below CSR_OPT_FIRST; these come after it.
 */
#ifndef HSMCERT_CMD_CSR_CLI_H
#define HSMCERT_CMD_CSR_CLI_H

#include "cli.h"
#include "keygen_options.h"

#include "hsmcert/csr.h"

enum {
	CSR_OPT_FIRST = CLI_OPT_FIRST_COMMAND_OPTION + 0x40,
	CSR_OPT_SUBJECT = CSR_OPT_FIRST,
	CSR_OPT_CN,
	CSR_OPT_O,
	CSR_OPT_OU,
	CSR_OPT_L,
	CSR_OPT_ST,
	CSR_OPT_C,
	CSR_OPT_SAN,
	CSR_OPT_WILDCARD,
	CSR_OPT_PROFILE,
	CSR_OPT_MD,
	CSR_OPT_PSS,
	CSR_OPT_OUT,
	CSR_OPT_DER,
	CSR_OPT_FORCE,
	CSR_OPT_CONFIG,
};

#define CSR_CLI_OPTIONS                                                                            \
	{"subject", required_argument, NULL, CSR_OPT_SUBJECT},                                     \
		{"cn", required_argument, NULL, CSR_OPT_CN},                                       \
		{"o", required_argument, NULL, CSR_OPT_O},                                         \
		{"ou", required_argument, NULL, CSR_OPT_OU},                                       \
		{"l", required_argument, NULL, CSR_OPT_L},                                         \
		{"st", required_argument, NULL, CSR_OPT_ST},                                       \
		{"c", required_argument, NULL, CSR_OPT_C},                                         \
		{"san", required_argument, NULL, CSR_OPT_SAN},                                     \
		{"wildcard", required_argument, NULL, CSR_OPT_WILDCARD},                           \
		{"profile", required_argument, NULL, CSR_OPT_PROFILE},                             \
		{"md", required_argument, NULL, CSR_OPT_MD},                                       \
		{"pss", no_argument, NULL, CSR_OPT_PSS},                                           \
		{"out", required_argument, NULL, CSR_OPT_OUT},                                     \
		{"der", no_argument, NULL, CSR_OPT_DER},                                           \
		{"config", required_argument, NULL, CSR_OPT_CONFIG},                               \
	{                                                                                          \
		"force", no_argument, NULL, CSR_OPT_FORCE                                          \
	}
/* getopt's short options: -o FILE. */
#define CSR_CLI_SHORT "o:"

#define CSR_CLI_USAGE                                                                              \
	"Subject (the CN is always also a SAN; encoded C, ST, L, O, OU, CN):\n"                    \
	"  --subject DN             'CN=www.example.hk,O=My Org,C=HK' (RFC 4514),\n"               \
	"                           '/C=HK/O=My Org/CN=www.example.hk' (OpenSSL), or\n"            \
	"                           'C=HK,S=\"Hong Kong\",O=\"My Org\",CN=...' (Exchange)\n"       \
	"  --cn --o --ou --l --st --c VALUE\n"                                                     \
	"                           one field each; they override --subject (--ou repeats)\n"      \
	"  --san NAME               a subjectAltName, repeatable: DNS name (default),\n"           \
	"                           IP:ADDR, email:ADDR, URI:URI; IDNs become A-labels\n"          \
	"  --wildcard DOMAIN        CN *.DOMAIN with SANs *.DOMAIN and DOMAIN\n"                   \
	"  --profile NAME           check a CA's rules before signing: hkpost (RSA 2048,\n"        \
	"                           SHA-256, C=HK) or cabf (CA/Browser Forum baseline)\n"          \
	"  --md DIGEST              sha256 (default), sha384, sha512\n"                            \
	"  --pss                    RSA-PSS signature (RSA keys)\n"                                \
	"Output (the request's signature is verified before it is written):\n"                     \
	"  -o, --out FILE           write the request to FILE (atomically); default stdout\n"      \
	"  --der                    DER instead of PEM\n"                                          \
	"  --force                  overwrite an existing FILE\n"

struct csr_cli {
	const char *config_path; /* --config FILE */
	hc_req_config config;	 /* loaded by csr_cli_prepare; empty without --config */
	unsigned char *key_id;	 /* a new key's --id, decoded */
	const char *subject;
	struct {
		const char *type, *value;
	} fields[32];
	size_t field_count;
	hc_altnames sans;
	const char *wildcard;
	hc_profile profile;
	const EVP_MD *md;
	bool pss;
	const char *out;
	bool der, force;
	hc_error err; /* a bad option value, reported after parsing */
	bool failed;
};

/*
 * Before any OpenSSL call: a request needs neither the system OpenSSL
 * configuration (extra providers, engines) nor OpenSSL's cleanup at exit,
 * and both are a measurable share of a one-CSR run (scripts/bench.d/csr.sh).
 */
void csr_cli_init(void);

/* Handle one of the shared options: true when it was one of them. */
bool csr_cli_option(struct csr_cli *o, int opt, const char *arg);

/*
 * After parsing: --config FILE loaded (its digest unless --md), a new key's
 * parameters into `k` when there is one (request, enroll: --type, else rsa:N
 * from the config's default_bits, else rsa:2048; --id), then the plan: the
 * config's subject, --subject (which replaces it), the per-field options.
 */
hc_rc csr_cli_prepare(struct csr_cli *o, struct cli_keygen *k, hc_csr_plan *plan, hc_error *err);

/* Where the request goes; refuses an existing file before any token work. */
hc_rc csr_cli_output(const struct cli *cli, const struct csr_cli *o, hc_csr_output *output,
		     hc_error *err);

/* The report: text on stdout when the request went to a file, else nothing; or JSON. */
json_t *csr_cli_json(const struct csr_cli *o, const hc_csr_output *output, const hc_csr_result *r);
void csr_cli_print(const struct csr_cli *o, const hc_csr_output *output, const hc_csr_result *r,
		   const hc_key_info *key);

void csr_cli_clear(struct csr_cli *o);

#endif
