/* SPEC: backup. */
#include "cli.h"
#include "progress.h"

#include "hsmcert/backup.h"
#include "hsmcert/file.h"
#include "hsmcert/hex.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_KEY = CLI_OPT_FIRST_COMMAND_OPTION,
	OPT_ALL,
	OPT_OUTPUT,
	OPT_FORMAT,
	OPT_TO,
	OPT_FORCE,
};

int usage_backup(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert backup (--key URI | --all) -o FILE [--format hsmb|pfx]\n"
		"                      [--to URI|PEM] [--force] [--passphrase-source SRC]\n\n"
		"Save private keys with their certificates. A key leaves the token only\n"
		"wrapped (C_WrapKey); keys that are not extractable cannot be saved.\n\n"
		"  --key URI                the private key, e.g. pkcs11:object=web\n"
		"  --all                    every extractable private key of the token; the\n"
		"                           others are listed with the reason (exit 1)\n"
		"  -o, --output FILE        the backup file (created mode 0600)\n"
		"  --format hsmb|pfx        hsmb (default; .pfx/.p12 names choose pfx):\n"
		"                           hsmcert's encrypted backup (docs/backup-format.md),\n"
		"                           AES key wrap (RFC 5649) under a passphrase key\n"
		"                           (scrypt N=2^18, r=8, p=1) or, with --to, under a\n"
		"                           key only the recipient's token can unwrap;\n"
		"                           pfx: PKCS#12 for Windows and software servers\n"
		"                           (AES-256-CBC, PBKDF2-SHA256, SHA-256 MAC), one key\n"
		"  --to URI|PEM             hsmb for a recipient: an RSA public key on another\n"
		"                           token (pkcs11:token=vault;object=backup) or in a\n"
		"                           PEM file; restore needs that token's private key\n"
		"                           (with CKA_UNWRAP)\n"
		"  --force                  replace an existing output file\n\n"
		"The passphrase (hsmb without --to, and pfx) comes from --passphrase-source,\n"
		"HSMCERT_PASSPHRASE, or a prompt that asks twice.\n\n"
		"With --all on a terminal, a progress bar on standard error.\n\n"
		"Exit status (for a cron job): 0 every key asked for was saved; 1 some key\n"
		"was not (not extractable: the file holds the others and the report names\n"
		"them), or the output exists, or the token holds no private key; 2 usage;\n"
		"3 token error or wrong PIN (nothing written); 4 the file could not be\n"
		"written.\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

/* --to: a public key on another token (named by its own URI), or a key or certificate file. */
static hc_rc load_recipient(const struct cli *cli, const char *to, EVP_PKEY **out, hc_error *err)
{
	struct cli other = *cli;
	struct cli_token t;
	hc_rc rc;

	if (strncmp(to, "pkcs11:", 7) != 0)
		rc = hc_backup_recipient_from_file(to, out, err);
	else {
		/* The recipient's token is named by its own URI, not by --token. */
		other.token_uri = NULL;
		if ((rc = cli_token_open(&other, to, 0, &t, err)) != HC_OK)
			return rc;
		rc = hc_backup_recipient_from_token(t.session, to, out, err);
		cli_token_close(&t);
	}
	if (rc == HC_USAGE)
		hc_error_prefix(err, "--to");
	return rc;
}

static json_t *json_protection(const hc_backup_params *p, const hc_backup_result *r)
{
	if (p->format == HC_FORMAT_PFX)
		return json_pack("{s:s, s:s, s:s, s:i, s:s}", "mode", "pkcs12", "cipher",
				 "aes-256-cbc", "kdf", "pbkdf2-hmac-sha256", "iterations",
				 HC_PFX_ITERATIONS, "mac", "sha256");
	if (p->recipient)
		return json_pack("{s:s, s:s, s:s, s:s}", "mode", "recipient", "oaep_hash",
				 r->file.oaep_hash == CKM_SHA256 ? "sha256" : "sha1", "mgf1",
				 r->file.oaep_hash == CKM_SHA256 ? "sha256" : "sha1",
				 "recipient_sha256", r->recipient_sha256);
	return json_pack("{s:s, s:s, s:I, s:I, s:I}", "mode", "passphrase", "kdf", "scrypt", "n",
			 (json_int_t)1 << r->file.scrypt_log2_n, "r", (json_int_t)r->file.scrypt_r,
			 "p", (json_int_t)r->file.scrypt_p);
}

static void print_protection(const hc_backup_params *p, const hc_backup_result *r)
{
	if (p->format == HC_FORMAT_PFX)
		printf("  %-20sPKCS#12, AES-256-CBC, PBKDF2-HMAC-SHA256 (%d iterations), "
		       "SHA-256 MAC\n",
		       "Protection", HC_PFX_ITERATIONS);
	else if (p->recipient)
		printf("  %-20sRSA-OAEP (%s) to recipient key SHA-256 %s\n", "Protection",
		       r->file.oaep_hash == CKM_SHA256 ? "SHA-256" : "SHA-1", r->recipient_sha256);
	else
		printf("  %-20spassphrase, scrypt N=2^%u r=%u p=%u, AES key wrap (RFC 5649)\n",
		       "Protection", r->file.scrypt_log2_n, r->file.scrypt_r, r->file.scrypt_p);
}

static int report(const struct cli *cli, const struct cli_token *t, const char *path,
		  const hc_backup_params *p, const hc_backup_result *r)
{
	if (cli->json) {
		json_t *keys = json_array();
		for (size_t i = 0; i < r->count; i++) {
			const hc_backup_item *it = &r->items[i];
			json_t *k = cli_json_key(&it->key);
			json_object_set_new(k, "saved", json_boolean(it->saved));
			json_object_set_new(k, "certificate_sha256",
					    it->has_certificate ? json_string(it->cert_sha256)
								: json_null());
			json_object_set_new(k, "ca_certificates",
					    json_integer((json_int_t)it->ca_count));
			json_object_set_new(k, "reason",
					    it->saved ? json_null() : json_string(it->reason));
			json_object_set_new(k, "attribute", cli_json_string(it->attribute));
			json_object_set_new(k, "ckr",
					    it->ckr != CKR_OK ? json_string(hc_ckr_name(it->ckr))
							      : json_null());
			json_array_append_new(keys, k);
		}
		return cli_json_emit(json_pack(
			"{s:o, s:s, s:o, s:o, s:o, s:I, s:I, s:b}", "file",
			r->data ? json_string(path) : json_null(), "format",
			p->format == HC_FORMAT_PFX ? "pfx" : "hsmb", "protection",
			json_protection(p, r), "token", cli_json_token(t), "keys", keys, "saved",
			(json_int_t)r->saved, "not_saved", (json_int_t)(r->count - r->saved),
			"complete", r->saved == r->count));
	}
	if (r->data)
		printf("Saved %zu of %zu key%s from token '%s' to %s\n", r->saved, r->count,
		       r->count == 1 ? "" : "s", t->label, path);
	else
		printf("Nothing saved from token '%s'; %s was not written\n", t->label, path);
	if (r->data)
		print_protection(p, r);
	for (size_t i = 0; i < r->count; i++) {
		const hc_backup_item *it = &r->items[i];
		char type[32];
		hc_keytype_format(&it->key.type, type, sizeof(type));
		if (it->saved && it->has_certificate)
			printf("  %-20s%s (%s), certificate SHA-256 %s, %zu CA certificate%s\n",
			       "saved", it->key.label, type, it->cert_sha256, it->ca_count,
			       it->ca_count == 1 ? "" : "s");
		else if (it->saved)
			printf("  %-20s%s (%s), no certificate\n", "saved", it->key.label, type);
		else
			printf("  %-20s%s\n", "NOT saved", it->reason);
	}
	return 0;
}

/* backup --all on a terminal: 1,000 keys take over a minute; show where it is. */
static void progress(void *ctx, size_t done, size_t total, const char *label)
{
	(void)ctx;
	cli_progress_draw(done, total, label);
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {{"key", required_argument, NULL, OPT_KEY},
						{"all", no_argument, NULL, OPT_ALL},
						{"output", required_argument, NULL, OPT_OUTPUT},
						{"format", required_argument, NULL, OPT_FORMAT},
						{"to", required_argument, NULL, OPT_TO},
						{"force", no_argument, NULL, OPT_FORCE},
						CLI_GLOBAL_OPTIONS};
	const char *key_uri = NULL, *output = NULL, *format = NULL, *to = NULL;
	bool all = false, force = false;
	hc_backup_params p = {0};
	hc_backup_result result = {0};
	struct cli_token t = {0};
	hc_secret *pass = NULL;
	CK_OBJECT_HANDLE one, *keys = NULL;
	size_t nkeys = 0;
	hc_error err = {0};
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT "o:", options, NULL)) != -1) {
		switch (c) {
		case OPT_KEY: key_uri = optarg; break;
		case OPT_ALL: all = true; break;
		case 'o':
		case OPT_OUTPUT: output = optarg; break;
		case OPT_FORMAT: format = optarg; break;
		case OPT_TO: to = optarg; break;
		case OPT_FORCE: force = true; break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_backup)) != CLI_NEXT)
				return r;
		}
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		return r;
	if (!key_uri == !all)
		return cli_usage_error(cli, "name the key with --key URI, or use --all");
	if (!output)
		return cli_usage_error(cli, "-o FILE is required");
	if (strcmp(output, "-") == 0)
		return cli_usage_error(cli, "-o -: a backup is written to a file (mode 0600)");
	if (!format) {
		size_t n = strlen(output);
		bool pfx = n > 4 && (strcasecmp(output + n - 4, ".pfx") == 0 ||
				     strcasecmp(output + n - 4, ".p12") == 0);
		format = pfx ? "pfx" : "hsmb";
	}
	if (strcmp(format, "pfx") == 0)
		p.format = HC_FORMAT_PFX;
	else if (strcmp(format, "hsmb") != 0)
		return cli_usage_error(cli, "--format %s: use hsmb or pfx", format);
	if (p.format == HC_FORMAT_PFX && (all || to))
		return cli_usage_error(cli, "--format pfx holds one key with its passphrase: "
					    "--all and --to are for hsmb");

	/* Refuse early: nothing is asked or touched when the output exists. */
	if (hc_file_check_writable(output, force, &err) != HC_OK)
		return cli_fail(cli, &err);
	if (to) {
		if (load_recipient(cli, to, &p.recipient, &err) != HC_OK) {
			r = cli_fail(cli, &err);
			goto out;
		}
	}
	/* Only session objects are created, which read-only sessions may: write-protected
	 * tokens can be backed up too. */
	if (cli_token_open(cli, key_uri, CLI_TOKEN_LOGIN | CLI_TOKEN_RW, &t, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (all) {
		if (hc_backup_list_keys(t.session, &keys, &nkeys, &err) != HC_OK) {
			r = cli_fail(cli, &err);
			goto out;
		}
		if (nkeys == 0) {
			hc_fail(&err, HC_CHECK, "token '%s' holds no private key", t.label);
			r = cli_fail(cli, &err);
			goto out;
		}
		p.keys = keys;
		p.key_count = nkeys;
	} else {
		hc_key_info chosen;
		if (hc_key_select_private(t.session, key_uri, &chosen, &err) != HC_OK) {
			r = cli_fail(cli, &err);
			goto out;
		}
		/* A key that cannot leave is said so before anyone types a passphrase. */
		if (hc_backup_check_extractable(&chosen, &err) != HC_OK) {
			hc_key_info_clear(&chosen);
			r = cli_fail(cli, &err);
			goto out;
		}
		one = chosen.handle;
		hc_key_info_clear(&chosen);
		p.keys = &one;
		p.key_count = 1;
	}
	if (!to) {
		if (cli_secret(cli, CLI_PASSPHRASE, NULL, true, &pass, &err) != HC_OK) {
			r = cli_fail(cli, &err);
			goto out;
		}
		/* Whoever gets the file can try passphrases offline, as fast as scrypt allows. */
		if (pass->len < HC_BACKUP_MIN_PASSPHRASE) {
			r = cli_usage_error(cli,
					    "the backup passphrase has %zu characters: at least %d "
					    "are needed (the file can be attacked offline)",
					    pass->len, HC_BACKUP_MIN_PASSPHRASE);
			goto out;
		}
		p.passphrase = pass;
	}
	if (all && cli_progress_wanted()) {
		p.progress = progress;
		p.progress_ctx = NULL;
	}
	if (hc_backup_create(t.session, &p, &result, &err) != HC_OK ||
	    (result.data &&
	     hc_file_write_atomic(output, result.data, result.len, 0600, force, &err) != HC_OK)) {
		if (p.progress)
			cli_progress_clear();
		r = cli_fail(cli, &err);
		goto out;
	}
	/* Text mode lists them in the report; JSON readers still get them on stderr. */
	for (size_t i = 0; cli->json && i < result.count; i++)
		if (!result.items[i].saved)
			cli_errorf(cli, "%s", result.items[i].reason);
	r = report(cli, &t, output, &p, &result);
	if (r == 0 && result.saved < result.count)
		r = HC_CHECK;
out:
	hc_backup_result_clear(&result);
	cli_token_close(&t);
	hc_secret_free(pass);
	EVP_PKEY_free(p.recipient);
	free(keys);
	return r;
}
