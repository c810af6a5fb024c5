/*
 * SPEC show: a .hsmb backup described without a passphrase and without a
 * token, from its structure alone. Nothing in it is authenticated until the
 * secret opens it, and the report says so.
 */
#include "show_hsmb.h"

#include "hsmcert/backup.h"
#include "hsmcert/file.h"
#include "hsmcert/hex.h"
#include "hsmcert/x509.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_NOTE                                                                                  \
	"not checked: the HMAC-SHA256 over the whole file needs the passphrase (or the "           \
	"recipient's private key); restore checks it before anything is changed, so "              \
	"everything shown here is as the file claims"

/* "CKA_SIGN" -> "sign", for JSON and text alike. */
static void attribute_name(CK_ATTRIBUTE_TYPE type, char *out, size_t len)
{
	const char *name = hc_cka_name(type);
	size_t i = 0;

	if (strncmp(name, "CKA_", 4) == 0)
		name += 4;
	for (; name[i] && i + 1 < len; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[i] = '\0';
}

struct cert_view {
	char *subject, *issuer;
	char not_after[21], sha256[65];
	bool ok;
};

static void cert_view(const hc_blob *der, struct cert_view *v)
{
	const unsigned char *p = der->data;
	X509 *x = der->len ? d2i_X509(NULL, &p, (long)der->len) : NULL;
	char sha1[41];

	memset(v, 0, sizeof(*v));
	if (!x)
		return;
	v->subject = hc_x509_name_text(X509_get_subject_name(x));
	v->issuer = hc_x509_name_text(X509_get_issuer_name(x));
	hc_time_iso8601(hc_asn1_time_to_time(X509_get0_notAfter(x)), v->not_after);
	hc_x509_thumbprints(x, sha1, v->sha256);
	v->ok = true;
	X509_free(x);
}

static void cert_view_clear(struct cert_view *v)
{
	free(v->subject);
	free(v->issuer);
}

static json_t *cert_json(const hc_blob *der)
{
	struct cert_view v;
	json_t *j;

	cert_view(der, &v);
	j = v.ok ? json_pack("{s:o, s:o, s:s, s:s}", "subject", cli_json_string(v.subject),
			     "issuer", cli_json_string(v.issuer), "not_after", v.not_after,
			     "sha256", v.sha256)
		 : json_pack("{s:b}", "readable", false);
	cert_view_clear(&v);
	return j;
}

static void key_type(const hc_backup_entry *e, char type[32], unsigned *bits)
{
	const unsigned char *p = e->public_key.data;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)e->public_key.len);

	*bits = 0;
	snprintf(type, 32, "%s", hc_ckk_name(e->key_type));
	if (k)
		hc_pkey_describe(k, type, 32, bits);
	EVP_PKEY_free(k);
}

static json_t *entry_json(const hc_backup_entry *e)
{
	char type[32], name[48], fp[65];
	char *id = hc_hex_encode(e->id.data ? e->id.data : (const unsigned char *)"", e->id.len);
	json_t *attrs = json_object(), *cas = json_array();
	unsigned bits;

	key_type(e, type, &bits);
	for (size_t i = 0; i < e->flag_count; i++) {
		attribute_name(e->flags[i].type, name, sizeof(name));
		json_object_set_new(attrs, name, json_boolean(e->flags[i].value));
	}
	for (size_t i = 0; i < e->ca_count; i++)
		json_array_append_new(cas, cert_json(&e->ca_certificates[i]));
	hc_backup_fingerprint(&e->public_key, fp);
	json_t *j = json_pack("{s:s, s:o, s:s, s:I, s:s, s:I, s:o, s:s, s:o, s:o}", "label",
			      e->label, "id", cli_json_string(id), "type", type, "bits",
			      (json_int_t)bits, "wrap_mechanism", hc_ckm_name(e->wrap_mechanism),
			      "wrapped_bytes", (json_int_t)e->wrapped_key.len, "attributes", attrs,
			      "public_key_sha256", fp, "certificate",
			      e->certificate.len ? cert_json(&e->certificate) : json_null(),
			      "ca_certificates", cas);
	free(id);
	return j;
}

static json_t *protection_json(const hc_backup_file *f)
{
	char *salt;
	json_t *j;
	char fp[65];

	if (f->mode == HC_BACKUP_RECIPIENT) {
		hc_backup_fingerprint(&f->recipient, fp);
		return json_pack("{s:s, s:s, s:s, s:s}", "mode", "recipient", "oaep_hash",
				 f->oaep_hash == CKM_SHA256 ? "sha256" : "sha1", "mgf1",
				 f->oaep_hash == CKM_SHA256 ? "sha256" : "sha1", "recipient_sha256",
				 fp);
	}
	salt = hc_hex_encode(f->salt, sizeof(f->salt));
	j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "mode", "passphrase", "kdf", "scrypt", "n",
		      (json_int_t)1 << f->scrypt_log2_n, "r", (json_int_t)f->scrypt_r, "p",
		      (json_int_t)f->scrypt_p, "salt", cli_json_string(salt));
	free(salt);
	return j;
}

static void print_entry(const hc_backup_entry *e, size_t i, size_t n)
{
	char type[32], name[48], fp[65];
	char *id = hc_hex_encode(e->id.data ? e->id.data : (const unsigned char *)"", e->id.len);
	struct cert_view v;
	unsigned bits;

	key_type(e, type, &bits);
	hc_backup_fingerprint(&e->public_key, fp);
	printf("\nKey %zu of %zu: %s\n", i + 1, n, e->label);
	printf("  %-20s%s\n", "Type", type);
	printf("  %-20s%s\n", "ID", id && id[0] ? id : "(none)");
	printf("  %-20s%s, %zu bytes\n", "Wrapped with", hc_ckm_name(e->wrap_mechanism),
	       e->wrapped_key.len);
	printf("  %-20s", "Recorded attributes");
	for (size_t k = 0; k < e->flag_count; k++) {
		attribute_name(e->flags[k].type, name, sizeof(name));
		printf("%s%s %s", k ? ", " : "", name, e->flags[k].value ? "yes" : "no");
	}
	printf("%s\n", e->flag_count ? "" : "none");
	printf("  %-20sSHA-256 %s\n", "Public key", fp);
	cert_view(&e->certificate, &v);
	if (!e->certificate.len)
		printf("  %-20s%s\n", "Certificate", "none in the file");
	else if (!v.ok)
		printf("  %-20s%s\n", "Certificate", "present, not a readable certificate");
	else
		printf("  %-20s%s\n  %-20sissuer %s, not after %s\n  %-20sSHA-256 %s\n",
		       "Certificate", v.subject ? v.subject : "?", "", v.issuer ? v.issuer : "?",
		       v.not_after, "", v.sha256);
	cert_view_clear(&v);
	for (size_t k = 0; k < e->ca_count; k++) {
		cert_view(&e->ca_certificates[k], &v);
		printf("  %-20s%s\n", k ? "" : "CA certificates",
		       v.ok && v.subject ? v.subject : "(not a readable certificate)");
		cert_view_clear(&v);
	}
	free(id);
}

int show_hsmb(const struct cli *cli, const char *path, const unsigned char *data, size_t len)
{
	hc_backup_file f = {0};
	hc_error err = {0};
	char created[21], fp[65];
	int r;

	if (hc_backup_parse(data, len, path, &f, &err) != HC_OK)
		return cli_fail(cli, &err);
	hc_time_iso8601((time_t)f.created, created);
	if (cli->json) {
		json_t *keys = json_array();
		for (size_t i = 0; i < f.entry_count; i++)
			json_array_append_new(keys, entry_json(&f.entries[i]));
		r = cli_json_emit(json_pack(
			"{s:s, s:s, s:I, s:s, s:o, s:o, s:o, s:s, s:o}", "file", path, "format",
			"hsmb", "version", (json_int_t)f.version, "created", created, "creator",
			cli_json_string(f.creator), "protection", protection_json(&f),
			"authenticated", json_null(), "authentication", AUTH_NOTE, "keys", keys));
		goto out;
	}
	printf("%s: hsmcert backup (hsmb), format version %u, %zu key%s\n", path, f.version,
	       f.entry_count, f.entry_count == 1 ? "" : "s");
	printf("  %-20s%s by %s\n", "Created", created, f.creator ? f.creator : "(unknown)");
	if (f.mode == HC_BACKUP_RECIPIENT) {
		hc_backup_fingerprint(&f.recipient, fp);
		printf("  %-20srecipient key: RSA-OAEP (%s), recipient public key SHA-256 %s\n",
		       "Protection", f.oaep_hash == CKM_SHA256 ? "SHA-256" : "SHA-1", fp);
	} else {
		printf("  %-20spassphrase: scrypt N=2^%u r=%u p=%u, AES key wrap (RFC 5649)\n",
		       "Protection", f.scrypt_log2_n, f.scrypt_r, f.scrypt_p);
	}
	printf("  %-20s%s\n", "Authentication", AUTH_NOTE);
	for (size_t i = 0; i < f.entry_count; i++)
		print_entry(&f.entries[i], i, f.entry_count);
	r = fflush(stdout) == 0 ? 0 : HC_IO;
out:
	hc_backup_file_clear(&f);
	return r;
}

int show_hsmb_if_backup(const struct cli *cli, const char *path, const unsigned char *data,
			size_t len, bool *shown)
{
	*shown = len >= HC_BACKUP_MAGIC_LEN &&
		 memcmp(data, HC_BACKUP_MAGIC, HC_BACKUP_MAGIC_LEN) == 0;
	return *shown ? show_hsmb(cli, path, data, len) : 0;
}
