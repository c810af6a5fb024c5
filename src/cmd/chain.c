/* SPEC: chain. */
#include "cli.h"

#include "certview.h"

#include "hsmcert/array.h"
#include "hsmcert/chain.h"
#include "hsmcert/file.h"
#include "hsmcert/x509.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	OPT_CERT = CLI_OPT_FIRST_COMMAND_OPTION,
	OPT_INTERMEDIATES,
	OPT_ROOTS,
	OPT_CRL,
	OPT_AT,
	OPT_FETCH,
	OPT_CACHE,
	OPT_FETCH_TIMEOUT,
	OPT_NO_CROSS,
	OPT_INCLUDE_ROOT,
	OPT_FORMAT,
	OPT_FORCE,
};

int usage_chain(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert chain --cert FILE [--intermediates PATH]... [--roots PATH]...\n"
		"                     [--crl FILE]... [--at TIME]\n"
		"                     [--fetch [--cache DIR] [--fetch-timeout SECONDS]]\n"
		"                     [--no-cross] [-o FILE [--format pem|p7b] [--include-root]\n"
		"                     [--force]] [--passphrase-source SRC]\n\n"
		"Assemble and verify the chain a server must send, from the files downloaded\n"
		"from the CA. Needs no token. Files are PEM, DER, PKCS#7 (.p7b/.p7c), PEM\n"
		"bundles or PKCS#12 (.pfx), detected by content. A PKCS#12's passphrase comes\n"
		"from --passphrase-source, HSMCERT_PASSPHRASE or a no-echo prompt, asked for\n"
		"only when a PKCS#12 is met (one passphrase for all of them).\n\n"
		"  --cert FILE              the certificate to chain (the issued leaf, or any\n"
		"                           certificate); more certificates in the file join\n"
		"                           the intermediates\n"
		"  --intermediates PATH     a file or a folder of CA certificates and CRLs\n"
		"                           (repeatable); unreadable files in a folder are\n"
		"                           reported and skipped\n"
		"  --roots PATH             trust anchors, a file or folder (repeatable;\n"
		"                           default: the system trust store)\n"
		"  --crl FILE               a CRL or ARL, PEM or DER (repeatable)\n"
		"  --at TIME                evaluate at TIME: 2026-01-31, 2026-01-31T12:00:00Z\n"
		"                           or @EPOCH (default: now)\n"
		"  --fetch                  download missing issuers (AIA caIssuers) and CRLs\n"
		"                           (CRL distribution points) over http://; off by default\n"
		"  --cache DIR              with --fetch: keep downloads in DIR and reuse them\n"
		"  --fetch-timeout SECONDS  with --fetch: the time all downloads together may\n"
		"                           take (default 30; each one stops after 20 at most)\n"
		"  --no-cross               leave cross certificates for the root out of the\n"
		"                           served chain\n"
		"  -o FILE                  write the chain: the certificate, then its issuers up\n"
		"                           to (not including) the root, then cross certificates\n"
		"  --format pem|p7b         PEM certificates (default) or a DER PKCS#7 bundle\n"
		"  --include-root           end the written chain with the root\n"
		"  --force                  overwrite FILE\n\n"
		"Path building: issuer by name, key identifier and signature; CA certificates\n"
		"valid at the time with basicConstraints CA and keyCertSign, path lengths\n"
		"honoured; of several certificates with one subject and key, the valid one with\n"
		"the latest notBefore (the others are reported superseded). Every certificate\n"
		"on the path, the leaf included, is checked against a current CRL/ARL of its\n"
		"issuer that covers it, when one is given or fetched; the report says for each\n"
		"whether it was checked and against which CRL. The path found is then verified\n"
		"by OpenSSL's own verifier with the same CRLs (as `check --tls` is).\n\n"
		"Exit status: 0 verified; 1 no valid path, a certificate on it revoked, or a\n"
		"path OpenSSL's verifier refuses (the first missing or failing link is named),\n"
		"FILE exists, or a PKCS#12 passphrase is wrong; 2 usage or malformed input;\n"
		"4 file or network I/O, including a missing issuer whose --fetch download\n"
		"failed (the report names the URL and why).\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

/* --at: a date, a UTC date and time, or @EPOCH. */
static bool parse_time(const char *s, time_t *out)
{
	static const char *const forms[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S",
					    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"};
	struct tm tm;
	char *end;

	if (s[0] == '@') {
		long long v = strtoll(s + 1, &end, 10);
		if (end == s + 1 || *end || v <= 0)
			return false;
		*out = (time_t)v;
		return true;
	}
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, forms[i], &tm);
		if (end && !*end) {
			*out = timegm(&tm);
			return *out > 0;
		}
	}
	return false;
}

struct chain_args {
	const char *cert, *at, *cache, *output, *format, *fetch_timeout;
	const char **intermediates, **roots, **crls;
	size_t n_intermediates, n_roots, n_crls;
	size_t cap_intermediates, cap_roots, cap_crls;
	long fetch_seconds; /* --fetch-timeout, 0 when not given */
	bool fetch, no_cross, include_root, force;
};

static bool push_arg(const char ***list, size_t *n, size_t *cap, const char *value)
{
	if (!hc_array_grow(list, cap, *n, sizeof(**list)))
		return false;
	(*list)[(*n)++] = value;
	return true;
}

/* ---- the report ---------------------------------------------------- */

static json_t *json_time(time_t t)
{
	char s[21];
	hc_time_iso8601(t, s);
	return json_string(s);
}

/* The shared certificate shape (certview.h), days_left counted to the evaluation time. */
static json_t *json_cert(X509 *cert, time_t at)
{
	hc_cert_info info = {0};
	hc_error err = {0};
	json_t *j;

	if (hc_cert_describe(cert, &info, &err) != HC_OK)
		return json_pack("{s:s}", "error", err.message);
	j = cli_json_cert(&info, at);
	hc_cert_info_clear(&info);
	return j;
}

static json_t *json_report(const hc_chain_result *r, const hc_chain_pool *pool, const char *output,
			   const char *format, size_t written)
{
	json_t *path = json_array(), *cands = json_array(), *roots = json_array();
	json_t *skipped = json_array(), *crls = json_array(), *fetches = json_array();
	const hc_chain_skipped *sk;
	size_t nsk;

	for (size_t i = 0; i < r->link_count; i++) {
		const hc_chain_link *l = &r->links[i];
		json_t *j = json_cert(l->cert, r->at);
		json_t *rev = json_pack(
			"{s:s, s:b, s:o, s:o, s:o, s:o, s:o}", "status",
			hc_revocation_name(l->revocation), "checked",
			l->revocation == HC_REV_GOOD || l->revocation == HC_REV_REVOKED, "crl",
			cli_json_string(l->crl_origin), "crl_number",
			cli_json_string(l->crl_number), "crl_this_update",
			l->crl_this_update ? json_time(l->crl_this_update) : json_null(),
			"crl_next_update",
			l->crl_next_update ? json_time(l->crl_next_update) : json_null(), "detail",
			cli_json_string(l->revocation_detail));
		if (l->revocation == HC_REV_REVOKED) {
			json_object_set_new(rev, "serial", cli_json_string(l->revoked_serial));
			json_object_set_new(rev, "revoked_at", json_time(l->revoked_at));
			json_object_set_new(rev, "reason", cli_json_string(l->revoked_reason));
		}
		json_object_set_new(j, "role", json_string(hc_chain_role_name(l->role)));
		json_object_set_new(j, "origin", cli_json_string(l->origin));
		json_object_set_new(j, "why", cli_json_string(l->why));
		json_object_set_new(j, "revocation", rev);
		json_array_append_new(path, j);
	}
	for (size_t i = 0; i < r->candidate_count; i++) {
		const hc_chain_candidate *c = &r->candidates[i];
		json_t *j = json_cert(c->cert, r->at);
		json_object_set_new(j, "origin", cli_json_string(c->origin));
		json_object_set_new(j, "issuer_of", cli_json_string(c->issued));
		json_object_set_new(j, "verdict", json_string(hc_chain_verdict_name(c->verdict)));
		json_object_set_new(j, "reason", cli_json_string(c->reason));
		json_array_append_new(cands, j);
	}
	for (size_t i = 0; i < r->root_count; i++) {
		char sha1[41], sha256[65];
		if (r->roots[i].cert)
			hc_x509_thumbprints(r->roots[i].cert, sha1, sha256);
		json_array_append_new(
			roots,
			json_pack("{s:s, s:s, s:b, s:o}", "subject", r->roots[i].subject, "via",
				  r->roots[i].via, "trusted", r->roots[i].trusted, "sha256",
				  r->roots[i].cert ? json_string(sha256) : json_null()));
	}
	sk = hc_chain_pool_skipped(pool, &nsk);
	for (size_t i = 0; i < nsk; i++)
		json_array_append_new(skipped, json_pack("{s:s, s:s}", "origin", sk[i].origin,
							 "reason", sk[i].reason));
	for (size_t i = 0; i < r->crl_skipped_count; i++)
		json_array_append_new(crls,
				      json_pack("{s:s, s:s}", "origin", r->crl_skipped[i].origin,
						"reason", r->crl_skipped[i].reason));
	for (size_t i = 0; i < r->fetch_count; i++) {
		const hc_chain_fetch_log *f = &r->fetches[i];
		json_array_append_new(fetches,
				      json_pack("{s:s, s:s, s:b, s:b, s:o}", "url", f->url, "what",
						f->what, "ok", f->ok, "from_cache", f->from_cache,
						"message", cli_json_string(f->message)));
	}
	return json_pack(
		"{s:b, s:o, s:o, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "verified",
		r->verified, "at", json_time(r->at), "failure", cli_json_string(r->failure),
		"revoked", r->revoked, "download_failed", r->download_failed, "openssl_verify",
		r->openssl_checked ? json_pack("{s:b, s:o, s:o}", "ok", r->openssl_ok, "error",
					       cli_json_string(r->openssl_error), "depth",
					       r->openssl_error_depth >= 0
						       ? json_integer(r->openssl_error_depth)
						       : json_null())
				   : json_null(),
		"path", path, "roots", roots, "candidates", cands, "skipped_inputs", skipped,
		"skipped_crls", crls, "fetches", fetches, "output",
		output ? json_pack("{s:s, s:s, s:I}", "file", output, "format", format,
				   "certificates", (json_int_t)written)
		       : json_null());
}

static void print_cert(FILE *out, X509 *cert, const char *indent)
{
	hc_cert_info info = {0};
	hc_error err = {0};
	char nb[21], na[21];

	if (hc_cert_describe(cert, &info, &err) != HC_OK) {
		fprintf(out, "%s%s\n", indent, cli_text(err.message));
		return;
	}
	hc_time_iso8601(info.not_before, nb);
	hc_time_iso8601(info.not_after, na);
	fprintf(out, "%s%-12s%s\n", indent, "issuer", cli_text(info.issuer));
	fprintf(out, "%s%-12s%s\n", indent, "serial", info.serial);
	fprintf(out, "%s%-12s%s .. %s\n", indent, "valid", nb, na);
	fprintf(out, "%s%-12s%s\n", indent, "sha256", info.sha256);
	hc_cert_info_clear(&info);
}

static char *subject_text(X509 *cert)
{
	return hc_x509_name_text(X509_get_subject_name(cert));
}

static void print_report(FILE *out, const hc_chain_result *r, const hc_chain_pool *pool)
{
	const hc_chain_skipped *sk;
	size_t nsk;
	char at[21];

	hc_time_iso8601(r->at, at);
	fprintf(out, "Chain %s at %s\n", r->verified ? "verified" : "NOT verified", at);
	for (size_t i = 0; i < r->link_count; i++) {
		const hc_chain_link *l = &r->links[i];
		char *s = subject_text(l->cert);
		fprintf(out, "  %zu %-14s%s\n", i, hc_chain_role_name(l->role),
			s ? cli_text(s) : "?");
		print_cert(out, l->cert, "                  ");
		fprintf(out, "                  %-12s%s\n", "from", cli_text(l->origin));
		if (l->why)
			fprintf(out, "                  %-12s%s\n", "why", cli_text(l->why));
		fprintf(out, "                  %-12s%s%s\n", "revocation",
			l->revocation == HC_REV_REVOKED	  ? "REVOKED: "
			: l->revocation == HC_REV_UNKNOWN ? "unknown: "
			: l->revocation == HC_REV_GOOD	  ? ""
							  : "not checked: ",
			cli_text(l->revocation == HC_REV_REVOKED && l->revocation_note
					 ? l->revocation_note
				 : l->revocation_detail ? l->revocation_detail
							: ""));
		free(s);
	}
	if (r->openssl_checked)
		fprintf(out, "OpenSSL's verifier (CRL checks on every certificate): %s%s\n",
			r->openssl_ok ? "verified" : "REFUSES: ",
			r->openssl_ok	   ? ""
			: r->openssl_error ? cli_text(r->openssl_error)
					   : "?");
	if (r->root_count) {
		fprintf(out, "Roots reached:\n");
		for (size_t i = 0; i < r->root_count; i++)
			fprintf(out, "  %s (%s%s)\n", cli_text(r->roots[i].subject),
				cli_text(r->roots[i].via),
				r->roots[i].trusted ? ", trusted" : ", not among the roots");
	}
	if (r->candidate_count) {
		fprintf(out, "Candidates:\n");
		for (size_t i = 0; i < r->candidate_count; i++) {
			const hc_chain_candidate *c = &r->candidates[i];
			char *s = subject_text(c->cert);
			char nb[21];
			hc_time_iso8601(hc_asn1_time_to_time(X509_get0_notBefore(c->cert)), nb);
			fprintf(out, "  %-15s%s (notBefore %s, %s)\n",
				hc_chain_verdict_name(c->verdict), s ? cli_text(s) : "?", nb,
				cli_text(c->origin));
			fprintf(out, "  %-15s%s\n", "", cli_text(c->reason));
			free(s);
		}
	}
	sk = hc_chain_pool_skipped(pool, &nsk);
	if (nsk) {
		fprintf(out, "Skipped inputs:\n");
		for (size_t i = 0; i < nsk; i++)
			fprintf(out, "  %s\n", cli_text(sk[i].reason));
	}
	if (r->crl_skipped_count) {
		fprintf(out, "CRLs not used:\n");
		for (size_t i = 0; i < r->crl_skipped_count; i++)
			fprintf(out, "  %s: %s\n", cli_text(r->crl_skipped[i].origin),
				cli_text(r->crl_skipped[i].reason));
	}
	if (r->fetch_count) {
		fprintf(out, "Downloads:\n");
		for (size_t i = 0; i < r->fetch_count; i++)
			fprintf(out, "  %-6s %s %s: %s\n", r->fetches[i].what,
				cli_text(r->fetches[i].url),
				r->fetches[i].ok ? (r->fetches[i].from_cache ? "(cache)" : "ok")
						 : "FAILED",
				cli_text(r->fetches[i].message));
	}
}

/* ---- the command --------------------------------------------------- */

static hc_rc load_inputs(const struct chain_args *a, const hc_passphrase_ask *ask, X509 **target,
			 hc_chain_pool *pool, hc_chain_pool *roots, hc_error *err)
{
	hc_x509_bundle bundle = {0};
	hc_rc rc;

	*target = NULL;
	hc_chain_pool_ask_passphrase(pool, ask);
	hc_chain_pool_ask_passphrase(roots, ask);
	if ((rc = hc_x509_load_file_ask(a->cert, ask, &bundle, err)) != HC_OK) {
		hc_error_prefix(err, "--cert");
		return rc;
	}
	if (sk_X509_num(bundle.certs) == 0) {
		rc = hc_fail(err, HC_USAGE, "--cert %s holds no certificate", a->cert);
		goto out;
	}
	*target = sk_X509_shift(bundle.certs);
	/* A server.pem bundle: the rest of it is a source of issuers. */
	for (int i = 0; i < sk_X509_num(bundle.certs); i++)
		if ((rc = hc_chain_pool_add_cert(pool, sk_X509_value(bundle.certs, i), a->cert,
						 err)) != HC_OK)
			goto out;
	for (size_t i = 0; i < a->n_intermediates; i++)
		if ((rc = hc_chain_pool_add_path(pool, a->intermediates[i], err)) != HC_OK) {
			hc_error_prefix(err, "--intermediates");
			goto out;
		}
	for (size_t i = 0; i < a->n_crls; i++) {
		size_t before = hc_chain_pool_crl_count(pool);
		if ((rc = hc_chain_pool_add_path(pool, a->crls[i], err)) != HC_OK) {
			hc_error_prefix(err, "--crl");
			goto out;
		}
		if (hc_chain_pool_crl_count(pool) == before) {
			rc = hc_fail(err, HC_USAGE,
				     "--crl %s holds no CRL (or only ones given before)",
				     a->crls[i]);
			goto out;
		}
	}
	for (size_t i = 0; i < a->n_roots; i++)
		if ((rc = hc_chain_pool_add_path(roots, a->roots[i], err)) != HC_OK) {
			hc_error_prefix(err, "--roots");
			goto out;
		}
	if (a->n_roots == 0 && (rc = hc_chain_pool_add_system_roots(roots, err)) != HC_OK)
		goto out;
	if (hc_chain_pool_cert_count(roots) == 0)
		rc = hc_fail(err, HC_USAGE, "--roots: no certificates");
out:
	if (rc != HC_OK) {
		X509_free(*target);
		*target = NULL;
	}
	hc_x509_bundle_clear(&bundle);
	return rc;
}

static int parse_args(struct cli *cli, int argc, char **argv, struct chain_args *a)
{
	static const struct option options[] = {
		{"cert", required_argument, NULL, OPT_CERT},
		{"intermediates", required_argument, NULL, OPT_INTERMEDIATES},
		{"roots", required_argument, NULL, OPT_ROOTS},
		{"crl", required_argument, NULL, OPT_CRL},
		{"at", required_argument, NULL, OPT_AT},
		{"fetch", no_argument, NULL, OPT_FETCH},
		{"cache", required_argument, NULL, OPT_CACHE},
		{"fetch-timeout", required_argument, NULL, OPT_FETCH_TIMEOUT},
		{"no-cross", no_argument, NULL, OPT_NO_CROSS},
		{"output", required_argument, NULL, 'o'},
		{"include-root", no_argument, NULL, OPT_INCLUDE_ROOT},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"force", no_argument, NULL, OPT_FORCE},
		CLI_GLOBAL_OPTIONS};
	bool ok = true;
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT "o:", options, NULL)) != -1) {
		switch (c) {
		case OPT_CERT: a->cert = optarg; break;
		case OPT_INTERMEDIATES:
			ok &= push_arg(&a->intermediates, &a->n_intermediates,
				       &a->cap_intermediates, optarg);
			break;
		case OPT_ROOTS:
			ok &= push_arg(&a->roots, &a->n_roots, &a->cap_roots, optarg);
			break;
		case OPT_CRL: ok &= push_arg(&a->crls, &a->n_crls, &a->cap_crls, optarg); break;
		case OPT_AT: a->at = optarg; break;
		case OPT_FETCH: a->fetch = true; break;
		case OPT_CACHE: a->cache = optarg; break;
		case OPT_FETCH_TIMEOUT: a->fetch_timeout = optarg; break;
		case OPT_NO_CROSS: a->no_cross = true; break;
		case 'o': a->output = optarg; break;
		case OPT_INCLUDE_ROOT: a->include_root = true; break;
		case OPT_FORMAT: a->format = optarg; break;
		case OPT_FORCE: a->force = true; break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_chain)) != CLI_NEXT)
				return r;
		}
	}
	if (!ok)
		return cli_usage_error(cli, "out of memory");
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		return r;
	if (!a->cert)
		return cli_usage_error(cli, "--cert is required: the certificate to chain");
	if (strcmp(a->format, "pem") != 0 && strcmp(a->format, "p7b") != 0)
		return cli_usage_error(cli, "--format must be pem or p7b, not '%s'", a->format);
	if (a->cache && !a->fetch)
		return cli_usage_error(cli, "--cache needs --fetch");
	if (a->fetch_timeout) {
		if (!a->fetch)
			return cli_usage_error(cli, "--fetch-timeout needs --fetch");
		if (!cli_number(a->fetch_timeout, 1, 3600, &a->fetch_seconds))
			return cli_usage_error(cli, "--fetch-timeout '%s': give 1 to 3600 seconds",
					       a->fetch_timeout);
	}
	if (a->output && strcmp(a->output, "-") == 0 && cli->json)
		return cli_usage_error(cli,
				       "-o - with --json would mix the chain and the report on "
				       "standard output: write the chain to a file");
	if (!a->output && (a->include_root || a->force))
		return cli_usage_error(cli, "--include-root and --force need -o FILE");
	return CLI_NEXT;
}

int cmd_chain(struct cli *cli, int argc, char **argv)
{
	struct chain_args a = {.format = "pem"};
	hc_chain_options opt = {0};
	hc_chain_result result = {0};
	hc_chain_pool *pool = NULL, *roots = NULL;
	struct cli_passphrase pass;
	STACK_OF(X509) *served = NULL;
	X509 *target = NULL;
	unsigned char *data = NULL;
	size_t len = 0, written = 0;
	hc_error err = {0};
	hc_rc rc;
	int r;

	cli_passphrase_init(&pass, cli);
	if ((r = parse_args(cli, argc, argv, &a)) != CLI_NEXT)
		goto out;
	if (a.at && !parse_time(a.at, &opt.at)) {
		r = cli_usage_error(
			cli, "--at '%s': use 2026-01-31, 2026-01-31T12:00:00Z or @EPOCH", a.at);
		goto out;
	}
	opt.total_timeout_ms = a.fetch_seconds * 1000L; /* 0: the default */
	opt.fetch = a.fetch;
	opt.cache_dir = a.cache;
	opt.no_cross = a.no_cross;
	opt.target_origin = a.cert;
	opt.missing_issuer_aia_hint = " (--fetch downloads it from the AIA URL)";

	if ((a.output && hc_file_check_writable(a.output, a.force, &err) != HC_OK) ||
	    hc_chain_pool_new(&pool, &err) != HC_OK || hc_chain_pool_new(&roots, &err) != HC_OK ||
	    load_inputs(&a, &pass.ask, &target, pool, roots, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	rc = hc_chain_build(target, pool, roots, &opt, &result, &err);
	if (rc != HC_OK && rc != HC_CHECK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (result.verified && a.output) {
		bool p7b = strcmp(a.format, "p7b") == 0;
		if (!(served = hc_chain_served(&result, a.include_root))) {
			hc_fail(&err, HC_IO, "out of memory");
			r = cli_fail(cli, &err);
			goto out;
		}
		written = (size_t)sk_X509_num(served);
		if (hc_chain_encode(served, p7b, &data, &len, &err) != HC_OK ||
		    hc_file_write_atomic(a.output, data, len, 0644, a.force, &err) != HC_OK) {
			r = cli_fail(cli, &err);
			goto out;
		}
	}
	if (cli->json) {
		r = cli_json_emit(json_report(&result, pool, result.verified ? a.output : NULL,
					      a.format, written));
	} else {
		/* With -o - the chain is on stdout: the report goes to stderr. */
		FILE *out = a.output && strcmp(a.output, "-") == 0 ? stderr : stdout;
		print_report(out, &result, pool);
		if (result.verified && a.output && strcmp(a.output, "-") != 0)
			fprintf(out, "Wrote %zu certificate%s to %s (%s)\n", written,
				written == 1 ? "" : "s", a.output, a.format);
		r = 0;
	}
	if (!result.verified) {
		cli_errorf(cli, "%s", result.failure ? result.failure : "not verified");
		/* A needed download that failed is network I/O (SPEC: exit 4), not a verdict. */
		r = result.download_failed ? HC_IO : HC_CHECK;
	}
out:
	cli_passphrase_clear(&pass);
	sk_X509_pop_free(served, X509_free);
	free(data);
	hc_chain_result_clear(&result);
	hc_chain_pool_free(pool);
	hc_chain_pool_free(roots);
	X509_free(target);
	free(a.intermediates);
	free(a.roots);
	free(a.crls);
	return r;
}
