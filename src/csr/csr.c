/* SPEC: csr, request — PKCS#10 requests built by OpenSSL and signed inside the token. */
#include "hsmcert/csr.h"

#include "hsmcert/file.h"
#include "hsmcert/rollback.h"
#include "hsmcert/sign.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --wildcard DOMAIN: CN *.DOMAIN, SANs *.DOMAIN and DOMAIN. */
static hc_rc plan_wildcard(const char *wildcard, hc_subject *subject, hc_csr_plan *out,
			   hc_error *err)
{
	const char *domain = strncmp(wildcard, "*.", 2) == 0 ? wildcard + 2 : wildcard;
	char *base = NULL;
	hc_rc rc;

	if (hc_subject_get(subject, NID_commonName))
		return hc_error_input(err, HC_INPUT_WILDCARD,
				      hc_fail(err, HC_USAGE,
					      "it sets the CN to *.%s; leave CN=%s "
					      "out of the subject",
					      domain, hc_subject_get(subject, NID_commonName)));
	if ((rc = hc_hostname_normalize(domain, "wildcard", 0, &base, err)) != HC_OK)
		return rc;
	if (asprintf(&out->common_name, "*.%s", base) < 0) {
		out->common_name = NULL;
		rc = hc_fail(err, HC_IO, "out of memory");
	}
	if (rc == HC_OK)
		rc = hc_altnames_add_typed(&out->sans, HC_ALTNAME_DNS, out->common_name, "wildcard",
					   err);
	if (rc == HC_OK)
		rc = hc_altnames_add_typed(&out->sans, HC_ALTNAME_DNS, base, "wildcard", err);
	free(base);
	return rc;
}

/* The CN is a host name (or an IP address), normalised, and always the first SAN. */
static hc_rc plan_common_name(hc_subject *subject, hc_csr_plan *out, hc_error *err)
{
	const char *cn = hc_subject_get(subject, NID_commonName);
	hc_rc rc;

	if (!cn)
		return HC_OK;
	if ((rc = hc_altnames_add_host(&out->sans, cn, "CN", err)) != HC_OK)
		return rc;
	out->common_name = strdup(out->sans.items[0].value);
	return out->common_name ? HC_OK : hc_fail(err, HC_IO, "out of memory");
}

static hc_rc plan_extensions(const hc_csr_params *p, hc_csr_plan *out, hc_error *err)
{
	X509_EXTENSION *san = NULL;
	hc_rc rc;

	if (!(out->extensions = sk_X509_EXTENSION_new_null()))
		return hc_fail(err, HC_IO, "out of memory");
	if (out->sans.count > 0) {
		/* RFC 5280 4.2.1.6: critical when the subject is empty. */
		bool critical = X509_NAME_entry_count(out->subject) == 0;
		if ((rc = hc_altnames_extension(&out->sans, critical, &san, err)) != HC_OK)
			return rc;
		if (!sk_X509_EXTENSION_push(out->extensions, san)) {
			X509_EXTENSION_free(san);
			return hc_fail(err, HC_IO, "out of memory");
		}
	}
	for (int i = 0; p->extensions && i < sk_X509_EXTENSION_num(p->extensions); i++) {
		X509_EXTENSION *e = sk_X509_EXTENSION_value(p->extensions, i), *copy;
		if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name)
			continue; /* ours, with CN and IDN handled, replaces it */
		copy = X509_EXTENSION_dup(e);
		if (!copy || !sk_X509_EXTENSION_push(out->extensions, copy)) {
			X509_EXTENSION_free(copy);
			return hc_fail(err, HC_IO, "out of memory");
		}
	}
	return HC_OK;
}

hc_rc hc_csr_plan_make(const hc_csr_params *p, hc_csr_plan *out, hc_error *err)
{
	hc_subject subject = {0};
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->profile = p->profile;
	out->md = p->md ? p->md : EVP_sha256();
	out->pss = p->pss;
	if ((rc = hc_subject_copy(&subject, p->subject, err)) != HC_OK)
		goto fail;
	rc = p->wildcard ? plan_wildcard(p->wildcard, &subject, out, err)
			 : plan_common_name(&subject, out, err);
	if (rc != HC_OK)
		goto fail;
	if (out->common_name && (rc = hc_subject_set(&subject, "CN", out->common_name, err)))
		goto fail;
	for (size_t i = 0; p->sans && i < p->sans->count; i++)
		if ((rc = hc_altnames_add_typed(&out->sans, p->sans->items[i].type,
						p->sans->items[i].value, "SAN", err)) != HC_OK)
			goto fail;
	if (out->sans.count == 0) {
		rc = hc_error_hint(
			err, HC_HINT_HOST_NAME,
			hc_fail(err, HC_USAGE, "a server certificate request needs a host name"));
		goto fail;
	}
	if ((rc = hc_subject_to_name(&subject, &out->subject, err)) != HC_OK ||
	    (rc = plan_extensions(p, out, err)) != HC_OK ||
	    (rc = hc_profile_check_plan(out, p->key_type, err)) != HC_OK)
		goto fail;
	hc_subject_clear(&subject);
	return HC_OK;
fail:
	hc_subject_clear(&subject);
	hc_csr_plan_clear(out);
	return rc;
}

void hc_csr_plan_clear(hc_csr_plan *plan)
{
	X509_NAME_free(plan->subject);
	free(plan->common_name);
	hc_altnames_clear(&plan->sans);
	sk_X509_EXTENSION_pop_free(plan->extensions, X509_EXTENSION_free);
	memset(plan, 0, sizeof(*plan));
}

/* DER SEQUENCE { INTEGER n, INTEGER e } (RFC 8017 RSAPublicKey). */
static unsigned char *rsa_public_key_der(EVP_PKEY *pub, int *len)
{
	BIGNUM *n = NULL, *e = NULL;
	ASN1_INTEGER *an = NULL, *ae = NULL;
	unsigned char *der = NULL, *p;
	int ln, le, content, header;

	if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e) ||
	    !(an = BN_to_ASN1_INTEGER(n, NULL)) || !(ae = BN_to_ASN1_INTEGER(e, NULL)) ||
	    (ln = i2d_ASN1_INTEGER(an, NULL)) <= 0 || (le = i2d_ASN1_INTEGER(ae, NULL)) <= 0)
		goto out;
	content = ln + le;
	header = content < 0x80 ? 2 : content < 0x100 ? 3 : 4;
	if (content >= 0x10000 || !(der = OPENSSL_malloc((size_t)(header + content))))
		goto out;
	p = der;
	*p++ = 0x30;
	if (header == 3)
		*p++ = 0x81;
	if (header == 4) {
		*p++ = 0x82;
		*p++ = (unsigned char)(content >> 8);
	}
	*p++ = (unsigned char)content;
	i2d_ASN1_INTEGER(an, &p);
	i2d_ASN1_INTEGER(ae, &p);
	*len = header + content;
out:
	ASN1_INTEGER_free(an);
	ASN1_INTEGER_free(ae);
	BN_free(n);
	BN_free(e);
	return der;
}

/*
 * The request's SubjectPublicKeyInfo straight from the key's numbers.
 * X509_REQ_set_pubkey runs OpenSSL 3's encoder machinery, a measurable share
 * of a whole `hsmcert csr` (scripts/bench.d/csr.sh), and so would reading
 * the request back to decode the key (OpenSSL's decoders). The tests compare
 * this encoding with the token's key as p11tool exports it.
 */
static hc_rc set_public_key(X509_REQ *req, EVP_PKEY *pub, hc_error *err)
{
	X509_PUBKEY *spki = X509_REQ_get_X509_PUBKEY(req);
	unsigned char *bits = NULL;
	char group[64];
	size_t point_len = 0;
	int len = 0, curve;

	if (EVP_PKEY_is_a(pub, "RSA")) {
		if ((bits = rsa_public_key_der(pub, &len)) &&
		    X509_PUBKEY_set0_param(spki, OBJ_nid2obj(NID_rsaEncryption), V_ASN1_NULL, NULL,
					   bits, len))
			return HC_OK;
	} else if (EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group,
						  sizeof(group), NULL) &&
		   (curve = OBJ_txt2nid(group)) != NID_undef &&
		   EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_PUB_KEY, NULL, 0,
						   &point_len) &&
		   (bits = OPENSSL_malloc(point_len)) &&
		   EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_PUB_KEY, bits, point_len,
						   &point_len) &&
		   X509_PUBKEY_set0_param(spki, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
					  V_ASN1_OBJECT, OBJ_nid2obj(curve), bits,
					  (int)point_len)) {
		return HC_OK;
	}
	OPENSSL_free(bits);
	return hc_fail_ssl(err, HC_IO, "encoding the request's public key");
}

static hc_rc encode_der(hc_csr_result *out, hc_error *err)
{
	int n = i2d_X509_REQ(out->req, &out->der);

	if (n <= 0)
		return hc_fail_ssl(err, HC_IO, "encoding the request");
	out->der_len = (size_t)n;
	return HC_OK;
}

/* DER, PEM and the description shown to the user, all from the signed request. */
static hc_rc csr_encode(hc_csr_result *out, EVP_PKEY *pub, hc_error *err)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(out->req);
	BIO *mem = BIO_new(BIO_s_mem());
	char *pem;
	long pem_len;
	hc_rc rc = HC_OK;

	if (!mem || !PEM_write_bio_X509_REQ(mem, out->req) ||
	    (pem_len = BIO_get_mem_data(mem, &pem)) <= 0) {
		rc = hc_fail_ssl(err, HC_IO, "encoding the request");
		goto out;
	}
	out->pem = strndup(pem, (size_t)pem_len);
	out->subject = hc_x509_name_text(X509_REQ_get_subject_name(out->req));
	if (!out->pem || !out->subject) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	hc_pkey_describe(pub, out->key_type, sizeof(out->key_type), &out->key_bits);
	rc = hc_sans_from_extensions(exts, &out->sans, &out->san_count, err);
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	BIO_free(mem);
	return rc;
}

hc_rc hc_csr_sign(hc_session *s, const hc_key_info *key, const hc_csr_plan *plan,
		  hc_csr_result *out, hc_error *err)
{
	EVP_PKEY *pub = NULL;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if (key->cls != CKO_PRIVATE_KEY)
		return hc_fail(err, HC_USAGE,
			       "'%s' is not a private key: a request is signed by "
			       "the private key",
			       key->uri ? key->uri : key->label);
	if ((rc = hc_profile_check_key(plan->profile, &key->type, err)) != HC_OK)
		return rc;
	if ((rc = hc_key_public(s, key, &pub, err)) != HC_OK)
		return rc;
	if (!(out->req = X509_REQ_new()) || !X509_REQ_set_version(out->req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(out->req, plan->subject) ||
	    (plan->extensions && sk_X509_EXTENSION_num(plan->extensions) > 0 &&
	     !X509_REQ_add_extensions(out->req, plan->extensions))) {
		rc = hc_fail_ssl(err, HC_IO, "building the request");
		goto fail;
	}
	if ((rc = set_public_key(out->req, pub, err)) != HC_OK ||
	    (rc = hc_sign_req(s, key, plan->md, plan->pss, out->req, err)) != HC_OK ||
	    (rc = encode_der(out, err)) != HC_OK)
		goto fail;
	/*
	 * SPEC: the request's signature is verified before it is written, with
	 * the public key the request carries (set_public_key encoded `pub`).
	 */
	if (X509_REQ_verify(out->req, pub) != 1) {
		ERR_clear_error();
		rc = hc_fail(err, HC_CHECK,
			     "the token's signature on the request does not verify "
			     "with key '%s''s public key: the key pair does not match",
			     key->label ? key->label : "");
		goto fail;
	}
	out->verified = true;
	out->signature_algorithm = hc_sign_algorithm_name(key, plan->md, plan->pss);
	if ((rc = csr_encode(out, pub, err)) != HC_OK)
		goto fail;
	EVP_PKEY_free(pub);
	return HC_OK;
fail:
	EVP_PKEY_free(pub);
	hc_csr_result_clear(out);
	return rc;
}

void hc_csr_result_clear(hc_csr_result *r)
{
	X509_REQ_free(r->req);
	OPENSSL_free(r->der);
	free(r->pem);
	free(r->subject);
	hc_sans_free(r->sans, r->san_count);
	memset(r, 0, sizeof(*r));
}

hc_rc hc_csr_write(const hc_csr_result *r, const hc_csr_output *o, hc_error *err)
{
	if (!o || !o->path)
		return HC_OK;
	/* A request is public: 0644 like any certificate. */
	if (o->der)
		return hc_file_write_atomic(o->path, r->der, r->der_len, 0644, o->force, err);
	return hc_file_write_atomic(o->path, r->pem, strlen(r->pem), 0644, o->force, err);
}

hc_rc hc_request(hc_session *s, const hc_keygen_params *keygen, const hc_csr_plan *plan,
		 const hc_csr_output *output, hc_keygen_result *key_out, hc_csr_result *csr_out,
		 hc_error *err)
{
	const hc_key_info *key = &key_out->key;
	hc_rollback undo = {.session = s};
	hc_rc rc;

	memset(key_out, 0, sizeof(*key_out));
	memset(csr_out, 0, sizeof(*csr_out));
	/* Refuse a key the profile forbids before the token spends time generating it. */
	if ((rc = hc_profile_check_key(plan->profile, &keygen->type, err)) != HC_OK)
		return rc;
	/* A key pair made for this request goes again if the request fails. */
	if ((rc = hc_keygen_undoable(s, keygen, &undo, key_out, err)) != HC_OK)
		return rc;
	rc = hc_csr_sign(s, key, plan, csr_out, err);
	if (rc == HC_OK)
		rc = hc_csr_write(csr_out, output, err);
	if (rc == HC_OK) {
		hc_rollback_clear(&undo);
		return HC_OK;
	}
	hc_rollback_run(&undo, err);
	hc_csr_result_clear(csr_out);
	hc_keygen_result_clear(key_out);
	return rc;
}
