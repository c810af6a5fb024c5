/* SPEC: export. */
#include "cli.h"

#include "hsmcert/export.h"
#include "hsmcert/file.h"
#include "hsmcert/x509.h"

#include <stdlib.h>
#include <string.h>

enum {
	OPT_CHAIN = CLI_OPT_FIRST_COMMAND_OPTION,
	OPT_INCLUDE_ROOT,
	OPT_OUTPUT,
	OPT_FORMAT,
	OPT_PUBKEY,
	OPT_FORCE,
};

int usage_export(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert export URI [--chain [--include-root]] [--pubkey]\n"
		"                      [--format pem|der|p7b] [-o FILE [--force]] [--token URI]\n\n"
		"Write a certificate stored on the token to a file (or standard output): URI\n"
		"names a certificate (type=cert), or a key, whose newest certificate (same\n"
		"public key, latest notBefore) is taken. What a server needs after a restore\n"
		"on a new machine.\n\n"
		"  --chain                  add the CA certificates stored on the token that\n"
		"                           chain it, in order (leaf first; each issuer found\n"
		"                           by name and signature); the self-signed root is\n"
		"                           left out\n"
		"  --include-root           with --chain: the root too, when the token has it\n"
		"  --pubkey                 the key's public key (SubjectPublicKeyInfo) instead\n"
		"  --format FORMAT          pem (default), der (one certificate or the public\n"
		"                           key), p7b (PKCS#7 certificate bundle)\n"
		"  -o, --output FILE        write FILE (atomically; an existing file needs\n"
		"                           --force); default: standard output\n\n"
		"Nothing on the token changes; no login is needed for public objects.\n\n"
		"Exit status: 0 written; 1 the key has no certificate on the token, or FILE\n"
		"exists; 2 usage, or the URI names nothing or several certificates; 3 token\n"
		"error; 4 I/O.\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

static json_t *cert_json(X509 *x, const char *uri)
{
	char *subject = hc_x509_name_text(X509_get_subject_name(x));
	char *issuer = hc_x509_name_text(X509_get_issuer_name(x));
	char sha1[41], sha256[65], not_after[21];
	json_t *j;

	hc_x509_thumbprints(x, sha1, sha256);
	hc_time_iso8601(hc_asn1_time_to_time(X509_get0_notAfter(x)), not_after);
	j = json_pack("{s:o, s:o, s:s, s:s, s:o}", "subject", cli_json_string(subject), "issuer",
		      cli_json_string(issuer), "not_after", not_after, "sha256", sha256, "uri",
		      cli_json_string(uri));
	free(subject);
	free(issuer);
	return j;
}

static const char *format_name(hc_export_format fmt)
{
	return fmt == HC_EXPORT_DER ? "der" : fmt == HC_EXPORT_P7B ? "p7b" : "pem";
}

/* The report: on stdout with -o, on stderr when stdout carries the export. */
static int report(const struct cli *cli, const hc_export_result *r, const char *output,
		  hc_export_format fmt, bool pubkey, bool chain)
{
	FILE *out = output ? stdout : stderr;
	size_t nchain = r->chain ? (size_t)sk_X509_num(r->chain) : 0;
	char *subject;

	if (cli->json && output) {
		json_t *list = json_array();
		for (size_t i = 0; i < nchain; i++)
			json_array_append_new(
				list, cert_json(sk_X509_value(r->chain, (int)i), r->chain_uris[i]));
		return cli_json_emit(json_pack(
			"{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:I}", "file", output, "format",
			format_name(fmt), "content", pubkey ? "public_key" : "certificate",
			"key_uri", cli_json_string(r->key_uri), "certificate",
			r->cert ? cert_json(r->cert, r->cert_uri) : json_null(), "chain",
			chain ? list : (json_decref(list), json_null()), "chain_complete",
			chain ? json_boolean(r->reached_root) : json_null(), "older_certificates",
			(json_int_t)r->other_certs));
	}
	if (cli->json)
		return 0; /* stdout carries the export itself */
	if (pubkey) {
		fprintf(out, "Exported the public key of %s%s%s (%s)\n",
			r->key_uri ? r->key_uri : r->cert_uri, output ? " to " : "",
			output ? output : "", format_name(fmt));
		return 0;
	}
	subject = hc_x509_name_text(X509_get_subject_name(r->cert));
	fprintf(out, "Exported certificate %s%s%s (%s)\n", subject ? subject : "?",
		output ? " to " : "", output ? output : "", format_name(fmt));
	free(subject);
	fprintf(out, "  %-20s%s\n", "Certificate URI", r->cert_uri);
	if (r->key_uri)
		fprintf(out, "  %-20s%s\n", "Key URI", r->key_uri);
	if (r->other_certs)
		fprintf(out, "  %-20s%zu older certificate%s of the key left out\n", "Older",
			r->other_certs, r->other_certs == 1 ? "" : "s");
	for (size_t i = 0; i < nchain; i++) {
		char *s = hc_x509_name_text(X509_get_subject_name(sk_X509_value(r->chain, (int)i)));
		fprintf(out, "  %-20s%s\n", i ? "" : "Chain", s ? s : "?");
		free(s);
	}
	if (chain)
		fprintf(out, "  %-20s%s\n", "Chain ends",
			r->reached_root ? "at a root on the token"
					: "where the token holds no issuer (add the CA "
					  "certificates with 'hsmcert import --chain')");
	return 0;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"chain", no_argument, NULL, OPT_CHAIN},
		{"include-root", no_argument, NULL, OPT_INCLUDE_ROOT},
		{"output", required_argument, NULL, OPT_OUTPUT},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"pubkey", no_argument, NULL, OPT_PUBKEY},
		{"force", no_argument, NULL, OPT_FORCE},
		CLI_GLOBAL_OPTIONS};
	hc_export_params p = {0};
	hc_export_result result = {0};
	struct cli_token t = {0};
	const char *output = NULL, *format = "pem";
	hc_export_format fmt;
	bool force = false;
	unsigned char *data = NULL;
	size_t len = 0;
	hc_error err = {0};
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT "o:", options, NULL)) != -1) {
		switch (c) {
		case OPT_CHAIN: p.chain = true; break;
		case OPT_INCLUDE_ROOT: p.include_root = true; break;
		case 'o':
		case OPT_OUTPUT: output = optarg; break;
		case OPT_FORMAT: format = optarg; break;
		case OPT_PUBKEY: p.pubkey = true; break;
		case OPT_FORCE: force = true; break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_export)) != CLI_NEXT)
				return r;
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(cli, optind >= argc
						    ? "name the certificate or key by its URI"
						    : "one URI at a time");
	p.uri = argv[optind];
	if (strcmp(format, "pem") == 0)
		fmt = HC_EXPORT_PEM;
	else if (strcmp(format, "der") == 0)
		fmt = HC_EXPORT_DER;
	else if (strcmp(format, "p7b") == 0)
		fmt = HC_EXPORT_P7B;
	else
		return cli_usage_error(cli, "--format %s: use pem, der or p7b", format);
	if (p.include_root && !p.chain)
		return cli_usage_error(cli, "--include-root goes with --chain");
	if (p.pubkey && (p.chain || fmt == HC_EXPORT_P7B))
		return cli_usage_error(cli, "--pubkey writes one public key: not with --chain or "
					    "--format p7b");
	if (fmt == HC_EXPORT_DER && p.chain)
		return cli_usage_error(cli, "DER holds one certificate: use --format pem or p7b "
					    "with --chain");
	if (output && strcmp(output, "-") == 0)
		output = NULL;
	/* Refuse early: nothing is read when the output exists. */
	if (output && hc_file_check_writable(output, force, &err) != HC_OK)
		return cli_fail(cli, &err);

	/* Certificates and public keys are public objects, but a key URI may need the login. */
	if (cli_token_open(cli, p.uri, CLI_TOKEN_LOGIN, &t, &err) != HC_OK ||
	    hc_export_collect(t.session, &p, &result, &err) != HC_OK ||
	    hc_export_encode(&result, fmt, p.pubkey, &data, &len, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (output) {
		if (hc_file_write_atomic(output, data, len, 0644, force, &err) != HC_OK) {
			r = cli_fail(cli, &err);
			goto out;
		}
	} else if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
		hc_fail(&err, HC_IO, "writing to standard output failed");
		r = cli_fail(cli, &err);
		goto out;
	}
	r = report(cli, &result, output, fmt, p.pubkey, p.chain);
out:
	free(data);
	hc_export_result_clear(&result);
	cli_token_close(&t);
	return r;
}
