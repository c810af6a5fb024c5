/*
 * SPEC: request --config — OpenSSL `req` configuration files, read with
 * OpenSSL's own NCONF so includes, $ENV:: and quoting work as they do for
 * `openssl req -config`.
 */
#include "hsmcert/csr.h"

#include "hsmcert/sign.h"

#include <errno.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* NCONF_get_section without leaving "not found" on the OpenSSL error queue. */
static STACK_OF(CONF_VALUE) *conf_section(CONF *conf, const char *section)
{
	STACK_OF(CONF_VALUE) *values = NCONF_get_section(conf, section);
	if (!values)
		ERR_clear_error();
	return values;
}

/* OpenSSL's convention for repeated fields: "0.organizationName", "1.OU" — skip to the type. */
static const char *field_type(const char *name)
{
	for (const char *p = name; *p; p++)
		if (*p == '.' || *p == ',' || *p == ':')
			return p[1] ? p + 1 : name;
	return name;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * The distinguished_name section. With prompt = no its entries are the
 * values; otherwise they are prompts and the values are the *_default
 * entries (we never prompt: a scripted request takes the defaults).
 */
/* NCONF_get_string without leaving "not found" on the OpenSSL error queue. */
static const char *conf_string(CONF *conf, const char *section, const char *name)
{
	const char *v = NCONF_get_string(conf, section, name);
	if (!v)
		ERR_clear_error();
	return v;
}

static hc_rc load_subject(CONF *conf, const char *path, const char *section, bool prompt,
			  hc_subject *out, hc_error *err)
{
	STACK_OF(CONF_VALUE) *values = conf_section(conf, section);
	char type[128];
	hc_rc rc;

	if (!values)
		return hc_fail(err, HC_USAGE,
			       "%s: distinguished_name names section [%s], which "
			       "is not there",
			       path, section);
	for (int i = 0; i < sk_CONF_VALUE_num(values); i++) {
		const CONF_VALUE *v = sk_CONF_VALUE_value(values, i);
		snprintf(type, sizeof(type), "%s", field_type(v->name));
		if (prompt) {
			if (!ends_with(type, "_default"))
				continue; /* a prompt text, or _min / _max */
			type[strlen(type) - strlen("_default")] = '\0';
		}
		if (!v->value || !*v->value)
			continue;
		if ((rc = hc_subject_add(out, type, v->value, err)) != HC_OK) {
			hc_error_prefix(err, "%s [%s] %s", path, section, v->name);
			return rc;
		}
	}
	return HC_OK;
}

/* "DNS.1 = a", "IP.2 = 10.0.0.1", "email = x@y" in an alt_names section. */
static hc_rc load_san_section(CONF *conf, const char *path, const char *section, hc_altnames *out,
			      hc_error *err)
{
	STACK_OF(CONF_VALUE) *values = conf_section(conf, section);
	char what[160], *entry = NULL;
	hc_rc rc;

	if (!values)
		return hc_fail(err, HC_USAGE,
			       "%s: subjectAltName names section [%s], which is "
			       "not there",
			       path, section);
	for (int i = 0; i < sk_CONF_VALUE_num(values); i++) {
		const CONF_VALUE *v = sk_CONF_VALUE_value(values, i);
		size_t type_len = strcspn(v->name, ".");
		snprintf(what, sizeof(what), "%s [%s] %s", path, section, v->name);
		if (strncasecmp(v->name, "DNS", type_len) != 0 &&
		    strncasecmp(v->name, "IP", type_len) != 0 &&
		    strncasecmp(v->name, "email", type_len) != 0 &&
		    strncasecmp(v->name, "URI", type_len) != 0)
			return hc_fail(err, HC_USAGE,
				       "%s: only DNS, IP, email and URI names are "
				       "supported",
				       what);
		/* Built to size: a long URI must be refused or kept whole, never cut. */
		if (asprintf(&entry, "%.*s:%s", (int)type_len, v->name, v->value) < 0)
			return hc_fail(err, HC_IO, "out of memory");
		rc = hc_altnames_add(out, entry, what, err);
		free(entry);
		if (rc != HC_OK)
			return rc;
	}
	return HC_OK;
}

/* "DNS:a, DNS:b, IP:10.0.0.1" or "@alt_names". */
static hc_rc load_san_value(CONF *conf, const char *path, const char *value, hc_altnames *out,
			    hc_error *err)
{
	char *copy, *save = NULL, what[128];
	hc_rc rc = HC_OK;

	while (*value == ' ')
		value++;
	if (*value == '@')
		return load_san_section(conf, path, value + 1, out, err);
	if (!(copy = strdup(value)))
		return hc_fail(err, HC_IO, "out of memory");
	snprintf(what, sizeof(what), "%s subjectAltName", path);
	for (char *t = strtok_r(copy, ",", &save); t && rc == HC_OK;
	     t = strtok_r(NULL, ",", &save)) {
		char *end = t + strlen(t);
		while (*t == ' ')
			t++;
		while (end > t && end[-1] == ' ')
			*--end = '\0';
		if (*t)
			rc = hc_altnames_add(out, t, what, err);
	}
	free(copy);
	return rc;
}

/* req_extensions: SANs ours, every other extension as OpenSSL makes it. */
static hc_rc load_extensions(CONF *conf, const char *path, const char *section, hc_req_config *out,
			     hc_error *err)
{
	STACK_OF(CONF_VALUE) *values = conf_section(conf, section);
	X509V3_CTX ctx;
	hc_rc rc;

	if (!values)
		return hc_fail(err, HC_USAGE,
			       "%s: req_extensions names section [%s], which is "
			       "not there",
			       path, section);
	X509V3_set_ctx(&ctx, NULL, NULL, NULL, NULL, 0);
	X509V3_set_nconf(&ctx, conf);
	for (int i = 0; i < sk_CONF_VALUE_num(values); i++) {
		const CONF_VALUE *v = sk_CONF_VALUE_value(values, i);
		X509_EXTENSION *ext;
		if (strcmp(v->name, "subjectAltName") == 0) {
			if ((rc = load_san_value(conf, path, v->value, &out->sans, err)) != HC_OK)
				return rc;
			continue;
		}
		ext = X509V3_EXT_nconf(conf, &ctx, v->name, v->value);
		if (!ext)
			return hc_fail_ssl(err, HC_USAGE, "%s [%s]: cannot make extension %s = %s",
					   path, section, v->name, v->value);
		if (!sk_X509_EXTENSION_push(out->extensions, ext)) {
			X509_EXTENSION_free(ext);
			return hc_fail(err, HC_IO, "out of memory");
		}
	}
	return HC_OK;
}

hc_rc hc_req_config_load(const char *path, hc_req_config *out, hc_error *err)
{
	CONF *conf = NCONF_new(NULL);
	const char *dn, *exts, *prompt, *md, *bits;
	long errline = -1;
	FILE *probe;
	hc_rc rc = HC_OK;

	memset(out, 0, sizeof(*out));
	if (!conf || !(out->extensions = sk_X509_EXTENSION_new_null())) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	/* NCONF says "no such file" and "syntax error" alike; tell I/O from content. */
	if (!(probe = fopen(path, "r"))) {
		rc = hc_error_input(err, HC_INPUT_CONFIG,
				    hc_fail(err, HC_IO, "%s: %s", path, strerror(errno)));
		goto out;
	}
	fclose(probe);
	if (NCONF_load(conf, path, &errline) <= 0) {
		if (errline > 0)
			rc = hc_fail_ssl(err, HC_USAGE, "%s: line %ld is not valid", path, errline);
		else
			rc = hc_fail_ssl(err, HC_USAGE, "%s is not an OpenSSL config", path);
		hc_error_input(err, HC_INPUT_CONFIG, rc);
		goto out;
	}
	dn = conf_string(conf, "req", "distinguished_name");
	exts = conf_string(conf, "req", "req_extensions");
	prompt = conf_string(conf, "req", "prompt");
	md = conf_string(conf, "req", "default_md");
	bits = conf_string(conf, "req", "default_bits");
	if (dn && (rc = load_subject(conf, path, dn, !(prompt && strcmp(prompt, "no") == 0),
				     &out->subject, err)) != HC_OK)
		goto out;
	if (exts)
		rc = load_extensions(conf, path, exts, out, err);
	else if (conf_section(conf, "alt_names"))
		rc = load_san_section(conf, path, "alt_names", &out->sans, err);
	if (rc != HC_OK)
		goto out;
	if (md && strcmp(md, "default") != 0 && (rc = hc_sign_md_parse(md, &out->md, err))) {
		hc_error_prefix(err, "%s default_md", path);
		hc_error_input(err, HC_INPUT_CONFIG, rc);
		goto out;
	}
	if (bits) {
		char *end;
		unsigned long b = strtoul(bits, &end, 10);
		if (*end || (b != 2048 && b != 3072 && b != 4096)) {
			rc = hc_error_input(err, HC_INPUT_CONFIG,
					    hc_fail(err, HC_USAGE,
						    "%s: default_bits = %s; use 2048, "
						    "3072 or 4096",
						    path, bits));
			goto out;
		}
		out->default_bits = (unsigned)b;
	}
out:
	NCONF_free(conf);
	if (rc != HC_OK)
		hc_req_config_clear(out);
	return rc;
}

void hc_req_config_clear(hc_req_config *c)
{
	hc_subject_clear(&c->subject);
	hc_altnames_clear(&c->sans);
	sk_X509_EXTENSION_pop_free(c->extensions, X509_EXTENSION_free);
	memset(c, 0, sizeof(*c));
}
