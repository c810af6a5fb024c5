/* Options and report shared by csr and request (see csr_cli.h). */
#include "csr_cli.h"

#include "certview.h"

#include "hsmcert/file.h"
#include "hsmcert/hex.h"
#include "hsmcert/sign.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void csr_cli_init(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT, NULL);
}

static void field(struct csr_cli *o, const char *type, const char *value)
{
	if (o->field_count >= sizeof(o->fields) / sizeof(o->fields[0])) {
		hc_fail(&o->err, HC_USAGE, "too many subject field options");
		o->failed = true;
		return;
	}
	o->fields[o->field_count].type = type;
	o->fields[o->field_count++].value = value;
}

bool csr_cli_option(struct csr_cli *o, int opt, const char *arg)
{
	hc_error err = {0};
	hc_rc rc = HC_OK;

	switch (opt) {
	case CSR_OPT_SUBJECT: o->subject = arg; break;
	case CSR_OPT_CN: field(o, "CN", arg); break;
	case CSR_OPT_O: field(o, "O", arg); break;
	case CSR_OPT_OU: field(o, "OU", arg); break;
	case CSR_OPT_L: field(o, "L", arg); break;
	case CSR_OPT_ST: field(o, "ST", arg); break;
	case CSR_OPT_C: field(o, "C", arg); break;
	case CSR_OPT_SAN: rc = hc_altnames_add(&o->sans, arg, "--san", &err); break;
	case CSR_OPT_WILDCARD: o->wildcard = arg; break;
	case CSR_OPT_PROFILE: rc = hc_profile_parse(arg, &o->profile, &err); break;
	case CSR_OPT_MD: rc = hc_sign_md_parse(arg, &o->md, &err); break;
	case CSR_OPT_PSS: o->pss = true; break;
	case 'o':
	case CSR_OPT_OUT: o->out = arg; break;
	case CSR_OPT_DER: o->der = true; break;
	case CSR_OPT_FORCE: o->force = true; break;
	case CSR_OPT_CONFIG: o->config_path = arg; break;
	default: return false;
	}
	/* Keep the first bad value: it is reported once parsing is over. */
	if (rc != HC_OK && !o->failed) {
		o->err = err;
		o->failed = true;
	}
	return true;
}

static hc_rc plan_make(struct csr_cli *o, const hc_keytype *key_type, hc_csr_plan *plan,
		       hc_error *err)
{
	const hc_altnames *base_sans = &o->config.sans;
	hc_subject subject = {0};
	hc_altnames sans = {0};
	hc_csr_params p = {0};
	hc_rc rc = HC_OK;

	if (o->failed) {
		*err = o->err;
		return err->rc;
	}
	if (o->subject)
		rc = hc_subject_parse(o->subject, &subject, err);
	else
		rc = hc_subject_copy(&subject, &o->config.subject, err);
	/* Per-field options: the first of a type replaces it, more of it add (two OUs). */
	for (size_t i = 0; rc == HC_OK && i < o->field_count; i++) {
		bool again = false;
		for (size_t j = 0; j < i; j++)
			again = again || strcmp(o->fields[j].type, o->fields[i].type) == 0;
		rc = again ? hc_subject_add(&subject, o->fields[i].type, o->fields[i].value, err)
			   : hc_subject_set(&subject, o->fields[i].type, o->fields[i].value, err);
		if (rc != HC_OK)
			hc_error_prefix(err, "--%s", o->fields[i].type);
	}
	for (size_t i = 0; rc == HC_OK && i < base_sans->count; i++)
		rc = hc_altnames_add_typed(&sans, base_sans->items[i].type,
					   base_sans->items[i].value, "config", err);
	for (size_t i = 0; rc == HC_OK && i < o->sans.count; i++)
		rc = hc_altnames_add_typed(&sans, o->sans.items[i].type, o->sans.items[i].value,
					   "--san", err);
	if (rc == HC_OK) {
		p.subject = &subject;
		p.sans = &sans;
		p.wildcard = o->wildcard;
		p.profile = o->profile;
		p.md = o->md;
		p.pss = o->pss;
		p.extensions = o->config.extensions;
		p.key_type = key_type;
		rc = hc_csr_plan_make(&p, plan, err);
	}
	hc_subject_clear(&subject);
	hc_altnames_clear(&sans);
	return rc;
}

hc_rc csr_cli_output(const struct cli *cli, const struct csr_cli *o, hc_csr_output *output,
		     hc_error *err)
{
	bool to_stdout = !o->out || strcmp(o->out, "-") == 0;

	output->der = o->der;
	output->force = o->force;
	/* With --json and no file, the PEM travels inside the JSON document. */
	output->path = !to_stdout ? o->out : cli->json ? NULL : "-";
	if (to_stdout && o->der && cli->json)
		return hc_fail(err, HC_USAGE,
			       "--der with --json needs -o FILE (the JSON document "
			       "carries PEM)");
	if (to_stdout && o->der && isatty(STDOUT_FILENO))
		return hc_fail(err, HC_USAGE, "not writing DER to a terminal: use -o FILE");
	if (!to_stdout)
		return hc_file_check_writable(o->out, o->force, err);
	return HC_OK;
}

json_t *csr_cli_json(const struct csr_cli *o, const hc_csr_output *output, const hc_csr_result *r)
{
	json_t *sans = cli_json_sans(r->sans, r->san_count);
	bool in_file = output->path && strcmp(output->path, "-") != 0;
	json_t *doc;

	doc = json_pack("{s:o, s:s, s:s, s:o, s:s, s:I, s:s, s:b, s:o}", "file",
			cli_json_string(in_file ? output->path : NULL), "format",
			output->der ? "der" : "pem", "subject", r->subject, "sans", sans,
			"key_type", r->key_type, "key_bits", (json_int_t)r->key_bits,
			"signature_algorithm", r->signature_algorithm, "signature_verified",
			r->verified, "profile",
			o->profile == HC_PROFILE_NONE ? json_null()
						      : json_string(hc_profile_name(o->profile)));
	if (!in_file)
		json_object_set_new(doc, "pem", json_string(r->pem));
	return doc;
}

void csr_cli_print(const struct csr_cli *o, const hc_csr_output *output, const hc_csr_result *r,
		   const hc_key_info *key)
{
	char *sans;

	if (!output->path || strcmp(output->path, "-") == 0)
		return; /* the request itself went to stdout */
	printf("Wrote certificate request %s (%s, %zu bytes); its signature verifies\n",
	       output->path, output->der ? "DER" : "PEM",
	       output->der ? r->der_len : strlen(r->pem));
	printf("  %-20s%s\n", "Subject", r->subject);
	if ((sans = cli_sans_list_text(r->sans, r->san_count)))
		printf("  %-20s%s\n", "SANs", sans);
	free(sans);
	printf("  %-20s%s\n", "Key", r->key_type);
	printf("  %-20s%s\n", "Key URI", key->uri);
	printf("  %-20s%s\n", "Signature", r->signature_algorithm);
	if (o->profile != HC_PROFILE_NONE)
		printf("  %-20s%s: every rule passed\n", "Profile", hc_profile_name(o->profile));
}

void csr_cli_clear(struct csr_cli *o)
{
	hc_altnames_clear(&o->sans);
	hc_req_config_clear(&o->config);
	free(o->key_id);
	o->key_id = NULL;
}

/* The key's options; a config's default_bits picks the RSA size when --type is absent. */
static hc_rc key_params(struct csr_cli *o, struct cli_keygen *k, hc_error *err)
{
	hc_keygen_params *p = &k->params;
	const char *type_arg = k->type_arg, *id_arg = k->id_arg;
	char from_config[16];
	hc_rc rc;

	if (!type_arg && o->config.default_bits) {
		snprintf(from_config, sizeof(from_config), "rsa:%u", o->config.default_bits);
		type_arg = from_config;
	}
	if ((rc = hc_keytype_parse(type_arg ? type_arg : "rsa:2048", &p->type, err)) != HC_OK)
		return rc;
	if (id_arg) {
		if ((rc = hc_hex_decode(id_arg, "--id", &o->key_id, &p->id_len, err)) != HC_OK)
			return rc;
		p->id = o->key_id;
	}
	return HC_OK;
}

hc_rc csr_cli_prepare(struct csr_cli *o, struct cli_keygen *k, hc_csr_plan *plan, hc_error *err)
{
	hc_rc rc;

	if (o->config_path && (rc = hc_req_config_load(o->config_path, &o->config, err)) != HC_OK)
		return rc;
	if (!o->md)
		o->md = o->config.md;
	if (k && (rc = key_params(o, k, err)) != HC_OK)
		return rc;
	return plan_make(o, k ? &k->params.type : NULL, plan, err);
}
