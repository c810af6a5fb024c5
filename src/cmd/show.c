/* SPEC: show FILE — certificates, requests, CRLs, PKCS#7 and PKCS#12, as a person checks them. */
#include "cli.h"
#include "show_hsmb.h"

#include "certview.h"
#include "hsmcert/file.h"
#include "hsmcert/x509.h"
#include "hsmcert/show.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

int usage_show(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert show FILE [--json] [--passphrase-source SRC]\n\n"
		"Describe what a file holds, the way to check it before submitting or\n"
		"installing it: certificates, certificate requests, CRLs (PEM, DER, any number\n"
		"in one PEM bundle), PKCS#7 (.p7b) and PKCS#12 (.pfx, with its passphrase).\n"
		"An hsmcert backup (.hsmb) is shown without passphrase or token: version,\n"
		"creation, protection, and each key's label, id, type, recorded attributes\n"
		"and certificates; its authentication needs the secret and is not checked.\n"
		"Subject, SANs (U-labels beside A-labels), key, signature algorithm,\n"
		"validity, SHA-1 and SHA-256 thumbprints, extensions. \"-\" reads stdin.\n"
		"Exit status 1 when a request's signature does not verify.\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

/* ---- JSON ------------------------------------------------------------ */

static json_t *json_extensions(const hc_ext_info *exts, size_t count)
{
	json_t *list = json_array();

	for (size_t i = 0; i < count; i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:s}", "name", exts[i].name,
						      "oid", exts[i].oid, "critical",
						      exts[i].critical, "value", exts[i].value));
	return list;
}

static json_t *json_time(time_t t)
{
	char iso[21];

	if (t == (time_t)-1)
		return json_null();
	hc_time_iso8601(t, iso);
	return json_string(iso);
}

static json_t *json_cert(const hc_cert_info *info, const hc_ext_info *exts, size_t n, time_t now)
{
	json_t *j = cli_json_cert(info, now);

	json_object_set_new(j, "path_len",
			    info->path_len < 0 ? json_null() : json_integer(info->path_len));
	json_object_set_new(j, "self_signed", json_boolean(info->self_signed));
	json_object_set_new(j, "extensions", json_extensions(exts, n));
	return j;
}

static json_t *json_request(const hc_req_info *r)
{
	return json_pack("{s:s, s:o, s:s, s:I, s:s, s:b, s:o}", "subject", r->subject, "sans",
			 cli_json_sans(r->sans, r->san_count), "key_type", r->key_type, "key_bits",
			 (json_int_t)r->key_bits, "signature_algorithm", r->signature_algorithm,
			 "signature_verified", r->signature_verified, "extensions",
			 json_extensions(r->extensions, r->extension_count));
}

static json_t *json_crl(const hc_crl_info *c, time_t now)
{
	json_t *revoked = json_array();

	for (size_t i = 0; i < c->revoked_count; i++)
		json_array_append_new(revoked,
				      json_pack("{s:s, s:o, s:o}", "serial", c->revoked[i].serial,
						"date", json_time(c->revoked[i].date), "reason",
						cli_json_string(c->revoked[i].reason)));
	return json_pack(
		"{s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o}", "issuer", c->issuer, "last_update",
		json_time(c->last_update), "next_update", json_time(c->next_update), "days_left",
		c->next_update == (time_t)-1 ? json_null()
					     : json_integer(hc_days_until(c->next_update, now)),
		"crl_number", cli_json_string(c->crl_number), "signature_algorithm",
		c->signature_algorithm, "revoked", revoked, "extensions",
		json_extensions(c->extensions, c->extension_count));
}

/* ---- text ------------------------------------------------------------ */

static void print_line(const char *label, const char *value)
{
	printf("  %-20s%s\n", label, cli_text(value));
}

/* Extension values can span lines: continuation lines align under the first. */
static void print_extensions(const hc_ext_info *exts, size_t count)
{
	if (count)
		printf("  Extensions\n");
	for (size_t i = 0; i < count; i++) {
		const char *v = exts[i].value;
		printf("    %s%s\n", exts[i].long_name, exts[i].critical ? " (critical)" : "");
		while (*v) {
			size_t n = strcspn(v, "\n");
			const char *start = v;
			while (*start == ' ' && start < v + n)
				start++;
			char *line = strndup(start, (size_t)(v + n - start));
			printf("  %-20s%s\n", "", line ? cli_text(line) : "(out of memory)");
			free(line);
			v += n + (v[n] == '\n');
		}
	}
}

static void print_days(const char *label, time_t t, time_t now)
{
	char iso[21];
	long days = hc_days_until(t, now);

	hc_time_iso8601(t, iso);
	printf("  %-20s%s (%ld day%s %s)\n", label, iso, days < 0 ? -days : days,
	       (days == 1 || days == -1) ? "" : "s", days < 0 ? "ago" : "left");
}

static void print_cert(const hc_cert_info *c, const hc_ext_info *exts, size_t n, time_t now)
{
	char not_before[21], key[48], ca[48];

	cli_print_cert(c, now, 2);
	hc_time_iso8601(c->not_before, not_before);
	print_line("Not before", not_before);
	print_line("Serial", c->serial);
	snprintf(key, sizeof(key), "%s", c->key_type);
	print_line("Key", key);
	print_line("Signature", c->signature_algorithm);
	if (c->is_ca && c->path_len >= 0)
		snprintf(ca, sizeof(ca), "yes (path length %ld)", c->path_len);
	else
		snprintf(ca, sizeof(ca), "%s", c->is_ca ? "yes" : "no");
	print_line("CA", ca);
	print_line("Self-signed", c->self_signed ? "yes" : "no");
	print_extensions(exts, n);
}

static void print_request(const hc_req_info *r)
{
	char *sans = cli_sans_list_text(r->sans, r->san_count);

	print_line("Subject", r->subject);
	if (sans && *sans)
		print_line("SANs", sans);
	print_line("Key", r->key_type);
	printf("  %-20s%s (%s)\n", "Signature", r->signature_algorithm,
	       r->signature_verified ? "verifies with the request's own key"
				     : "DOES NOT VERIFY with the request's own key");
	print_extensions(r->extensions, r->extension_count);
	free(sans);
}

static void print_crl(const hc_crl_info *c, time_t now)
{
	char iso[21], count[32];

	print_line("Issuer", c->issuer);
	hc_time_iso8601(c->last_update, iso);
	print_line("This update", iso);
	if (c->next_update != (time_t)-1)
		print_days("Next update", c->next_update, now);
	else
		print_line("Next update", "none given");
	if (c->crl_number)
		print_line("CRL number", c->crl_number);
	print_line("Signature", c->signature_algorithm);
	snprintf(count, sizeof(count), "%zu certificate%s", c->revoked_count,
		 c->revoked_count == 1 ? "" : "s");
	print_line("Revoked", count);
	for (size_t i = 0; i < c->revoked_count; i++) {
		hc_time_iso8601(c->revoked[i].date, iso);
		printf("  %-20sserial %s  %s%s%s\n", "", c->revoked[i].serial, iso,
		       c->revoked[i].reason ? "  " : "",
		       c->revoked[i].reason ? c->revoked[i].reason : "");
	}
	print_extensions(c->extensions, c->extension_count);
}

static void print_private_key(const hc_show_report *r)
{
	printf("\nPrivate key\n");
	print_line("Key", r->key_type);
	if (r->friendly_name)
		print_line("Friendly name", r->friendly_name);
	if (r->legacy_pkcs12)
		print_line("Encryption", "legacy (3DES/RC2): re-export with AES");
}

/* ---- the report ------------------------------------------------------- */

static int print_json(const char *path, const hc_show_report *r, time_t now)
{
	json_t *certs = json_array(), *reqs = json_array(), *crls = json_array();
	json_t *key = json_null();

	for (size_t i = 0; i < r->cert_count; i++)
		json_array_append_new(certs, json_cert(&r->certs[i].info, r->certs[i].extensions,
						       r->certs[i].extension_count, now));
	if (r->request)
		json_array_append_new(reqs, json_request(r->request));
	for (size_t i = 0; i < r->crl_count; i++)
		json_array_append_new(crls, json_crl(&r->crls[i], now));
	if (r->has_private_key)
		key = json_pack("{s:s, s:I, s:o}", "type", r->key_type, "bits",
				(json_int_t)r->key_bits, "friendly_name",
				cli_json_string(r->friendly_name));
	return cli_json_emit(json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:b}", "file", path,
				       "format", hc_x509_format_name(r->format), "certificates",
				       certs, "requests", reqs, "crls", crls, "private_key", key,
				       "legacy_pkcs12", r->legacy_pkcs12));
}

static int print_text(const char *path, const hc_show_report *r, time_t now)
{
	printf("%s: %zu certificate%s, %d request%s, %zu CRL%s (%s)\n", cli_text(path),
	       r->cert_count, r->cert_count == 1 ? "" : "s", r->request ? 1 : 0,
	       r->request ? "" : "s", r->crl_count, r->crl_count == 1 ? "" : "s",
	       hc_x509_format_name(r->format));
	for (size_t i = 0; i < r->cert_count; i++) {
		printf("\nCertificate %zu of %zu\n", i + 1, r->cert_count);
		print_cert(&r->certs[i].info, r->certs[i].extensions, r->certs[i].extension_count,
			   now);
	}
	if (r->request) {
		printf("\nCertificate request\n");
		print_request(r->request);
	}
	for (size_t i = 0; i < r->crl_count; i++) {
		printf("\nCRL %zu of %zu\n", i + 1, r->crl_count);
		print_crl(&r->crls[i], now);
	}
	if (r->has_private_key)
		print_private_key(r);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : HC_IO;
}

/* ---- the command ------------------------------------------------------ */

int cmd_show(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {CLI_GLOBAL_OPTIONS};
	hc_x509_bundle bundle = {0};
	unsigned char *data = NULL;
	size_t len = 0;
	hc_show_report report = {0};
	struct cli_passphrase pass;
	const char *path;
	hc_error err = {0};
	hc_rc rc;
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT, options, NULL)) != -1)
		if ((r = cli_common_option(cli, c, optarg, usage_show)) != CLI_NEXT)
			return r;
	if (optind + 1 != argc)
		return cli_usage_error(cli,
				       optind >= argc ? "FILE is required" : "one FILE at a time");
	path = argv[optind];
	/* Read once: a pipe or a FIFO gives its bytes one time only. */
	if (hc_file_read(path, HC_X509_MAX_FILE, &data, &len, &err) != HC_OK)
		return cli_fail(cli, &err);
	{
		bool shown;
		r = show_hsmb_if_backup(cli, path, data, len, &shown);
		if (shown)
			goto out;
	}
	cli_passphrase_init(&pass, cli);
	rc = hc_x509_load_mem_ask(data, len, path, &pass.ask, &bundle, &err);
	cli_passphrase_clear(&pass);
	if (rc == HC_OK)
		rc = hc_show_describe(&bundle, &report, &err);
	if (rc != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	r = cli->json ? print_json(path, &report, time(NULL))
		      : print_text(path, &report, time(NULL));
	if (r == 0 && report.request && !report.request->signature_verified) {
		cli_errorf(cli, "the request's signature does not verify with its own public key: "
				"do not submit it");
		r = HC_CHECK;
	}
out:
	hc_show_report_clear(&report);
	hc_x509_bundle_clear(&bundle);
	if (data)
		OPENSSL_cleanse(data, len); /* a PKCS#12 holds a private key */
	free(data);
	return r;
}
