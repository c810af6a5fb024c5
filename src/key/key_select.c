/* Selecting the private key a user names by URI (csr --key, and any command that signs). */
#include "hsmcert/key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *class_word(CK_OBJECT_CLASS cls)
{
	switch (cls) {
	case CKO_PUBLIC_KEY: return "a public key";
	case CKO_CERTIFICATE: return "a certificate";
	case CKO_SECRET_KEY: return "a secret key";
	case CKO_DATA: return "a data object";
	default: return "an object";
	}
}

/* Explain an empty search: does anything else (a public key, a certificate) match? */
static hc_rc nothing_found(hc_session *s, const char *uri, const CK_ATTRIBUTE *tmpl, CK_ULONG n,
			   hc_error *err)
{
	CK_ATTRIBUTE others[8];
	CK_ULONG m = 0;
	CK_OBJECT_HANDLE *found = NULL;
	size_t count = 0;
	char token[33];
	CK_OBJECT_CLASS cls = CK_UNAVAILABLE_INFORMATION;
	CK_ATTRIBUTE a = {CKA_CLASS, NULL, 0};

	HC_P11_STRING(hc_session_slot(s)->token.label, token);
	for (CK_ULONG i = 0; i < n && m < 8; i++)
		if (tmpl[i].type != CKA_CLASS)
			others[m++] = tmpl[i];
	if (m > 0 && hc_objects_find(s, others, m, &found, &count, NULL) == HC_OK && count > 0 &&
	    hc_attrs_get(s, found[0], &a, 1, NULL) == HC_OK) {
		hc_attr_ulong(&a, &cls);
		hc_attrs_release(&a, 1);
	}
	free(found);
	/* A URI that names no private key is the user's input (2): no PKCS#11 call failed. */
	if (cls != CK_UNAVAILABLE_INFORMATION)
		return hc_fail(err, HC_USAGE,
			       "%s names only %s on token '%s', no private key: "
			       "the private key is not on this token (or not visible after login)",
			       uri, class_word(cls), token);
	return hc_fail(err, HC_USAGE,
		       "no private key matches %s on token '%s'; 'hsmcert list' "
		       "shows the keys",
		       uri, token);
}

hc_rc hc_key_select_private(hc_session *s, const char *uri_text, hc_key_info *out, hc_error *err)
{
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY, asked;
	CK_ATTRIBUTE tmpl[8];
	CK_ULONG n = 0, uri_n = 0;
	CK_ATTRIBUTE *uri_attrs;
	CK_OBJECT_HANDLE *found = NULL;
	size_t count = 0;
	hc_uri *uri = NULL;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = hc_uri_parse(uri_text, &uri, err)) != HC_OK)
		return rc;
	uri_attrs = hc_uri_object_template(uri, &uri_n);
	for (CK_ULONG i = 0; i < uri_n && n < 7; i++) {
		if (uri_attrs[i].type == CKA_CLASS && uri_attrs[i].ulValueLen == sizeof(asked)) {
			memcpy(&asked, uri_attrs[i].pValue, sizeof(asked));
			if (asked != CKO_PRIVATE_KEY) {
				rc = hc_fail(err, HC_USAGE,
					     "%s names %s: signing needs the private "
					     "key (type=private, or leave type= out)",
					     uri_text, class_word(asked));
				goto out;
			}
			continue;
		}
		tmpl[n++] = uri_attrs[i];
	}
	tmpl[n++] = (CK_ATTRIBUTE){CKA_CLASS, &priv, sizeof(priv)};
	if ((rc = hc_objects_find(s, tmpl, n, &found, &count, err)) != HC_OK)
		goto out;
	if (count == 0) {
		rc = nothing_found(s, uri_text, tmpl, n, err);
	} else if (count > 1) {
		char names[512] = "";
		for (size_t i = 0; i < count && strlen(names) < sizeof(names) - 80; i++) {
			hc_key_info k;
			if (hc_key_describe(s, found[i], &k, NULL) != HC_OK)
				continue;
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 names[0] ? ", " : "", k.uri);
			hc_key_info_clear(&k);
		}
		rc = hc_fail(err, HC_USAGE,
			     "%zu private keys match %s: %s; name one with "
			     "object= and id=",
			     count, uri_text, names);
	} else {
		rc = hc_key_describe(s, found[0], out, err);
	}
out:
	free(found);
	hc_uri_free(uri);
	return rc;
}
