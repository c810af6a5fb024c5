/* SPEC: csr — host names (IDN to A-labels with libidn2) and subjectAltName entries. */
#include "hsmcert/subject.h"

#include "hsmcert/array.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <idn2.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The parts of a URL a user pasted instead of a host name. */
struct url_parts {
	bool scheme, userinfo, port, path;
	const char *host;
	size_t host_len;
};

static bool url_split(const char *input, struct url_parts *u)
{
	const char *p = input, *sep = strstr(input, "://"), *end, *at, *colon;

	memset(u, 0, sizeof(*u));
	if (sep) {
		u->scheme = true;
		p = sep + 3;
	}
	end = p + strcspn(p, "/?#");
	u->path = *end != '\0';
	at = memchr(p, '@', (size_t)(end - p));
	if (at && (u->scheme || u->path)) {
		u->userinfo = true;
		p = at + 1;
	}
	if (*p == '[') { /* [v6]:port */
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (close) {
			u->host = p + 1;
			u->host_len = (size_t)(close - p - 1);
			u->port = close + 1 < end;
			return u->scheme || u->port || u->path;
		}
	}
	colon = memchr(p, ':', (size_t)(end - p));
	u->port = colon != NULL;
	u->host = p;
	u->host_len = (size_t)((colon ? colon : end) - p);
	return u->scheme || u->port || u->path || u->userinfo;
}

/* "has a scheme, a port and a path" */
static void url_reasons(const struct url_parts *u, char *out, size_t len)
{
	const char *parts[4];
	size_t n = 0;

	if (u->scheme)
		parts[n++] = "a scheme";
	if (u->userinfo)
		parts[n++] = "a user name";
	if (u->port)
		parts[n++] = "a port";
	if (u->path)
		parts[n++] = "a path";
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s",
			 i == 0	      ? ""
			 : i + 1 == n ? " and "
				      : ", ",
			 parts[i]);
}

static bool ldh_char(char c)
{
	/* Underscores are not LDH, but they occur in real names; profiles refuse them. */
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Label rules on the A-label form, after libidn2 has done the IDNA2008 checks. */
static hc_rc check_labels(const char *name, const char *what, const char *input, hc_error *err)
{
	const char *label = name, *last = name;
	bool all_digits = true;

	if (strlen(name) > 253)
		return hc_fail(err, HC_USAGE, "%s '%s' is longer than 253 characters", what, input);
	for (const char *p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t n = (size_t)(p - label);
			if (n == 0)
				return hc_fail(err, HC_USAGE,
					       "%s '%s' has an empty label (two dots "
					       "in a row, or a leading dot)",
					       what, input);
			if (n > 63)
				return hc_fail(err, HC_USAGE,
					       "%s '%s': the label '%.*s' is longer "
					       "than 63 characters",
					       what, input, (int)n, label);
			if (*label == '-' || p[-1] == '-')
				return hc_fail(err, HC_USAGE,
					       "%s '%s': a label may not start or end "
					       "with '-'",
					       what, input);
			last = label;
			if (*p == '\0')
				break;
			label = p + 1;
			continue;
		}
		if (*p == '@')
			return hc_fail(err, HC_USAGE,
				       "%s '%s' is not a host name; for an email "
				       "address use email:%s",
				       what, input, input);
		if (!ldh_char(*p))
			return hc_fail(err, HC_USAGE,
				       "%s '%s': the character '%c' is not allowed "
				       "in a host name (letters, digits, '-')",
				       what, input, *p);
	}
	for (const char *p = last; *p; p++)
		if (!isdigit((unsigned char)*p))
			all_digits = false;
	if (all_digits)
		return hc_fail(err, HC_USAGE,
			       "%s '%s' is neither a host name (its last label is "
			       "a number) nor an IP address",
			       what, input);
	return HC_OK;
}

/* The name without URL checks: wildcard, IDN, labels. */
static hc_rc normalize_plain(const char *input, const char *what, unsigned flags, char **out,
			     hc_error *err)
{
	char *name = strdup(input), *result = NULL;
	const char *rest;
	uint8_t *alabel = NULL;
	size_t len;
	bool wildcard = false;
	hc_rc rc = HC_OK;
	int r;

	*out = NULL;
	if (!name)
		return hc_fail(err, HC_IO, "out of memory");
	len = strlen(name);
	if (len > 1 && name[len - 1] == '.') /* an absolute name; certificates carry it without */
		name[--len] = '\0';
	rest = name;
	if (strncmp(name, "*.", 2) == 0) {
		if (!(flags & HC_HOST_WILDCARD)) {
			rc = hc_fail(err, HC_USAGE, "%s '%s': a wildcard is not allowed here", what,
				     input);
			goto out;
		}
		wildcard = true;
		rest = name + 2;
	}
	if (strchr(rest, '*')) {
		rc = hc_fail(err, HC_USAGE,
			     "%s '%s': '*' is only allowed as the whole leftmost "
			     "label, as in *.example.hk",
			     what, input);
		goto out;
	}
	/* UTS#46 non-transitional mapping, then IDNA2008 (the libidn2 default). */
	r = idn2_lookup_u8((const uint8_t *)rest, &alabel, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (r != IDN2_OK) {
		rc = hc_fail(err, HC_USAGE, "%s '%s' is not a valid host name: %s", what, input,
			     idn2_strerror(r));
		goto out;
	}
	if ((rc = check_labels((const char *)alabel, what, input, err)) != HC_OK)
		goto out;
	if (asprintf(&result, "%s%s", wildcard ? "*." : "", (const char *)alabel) < 0) {
		result = NULL;
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	*out = result;
out:
	idn2_free(alabel);
	free(name);
	return rc;
}

hc_rc hc_hostname_normalize(const char *input, const char *what, unsigned flags, char **out,
			    hc_error *err)
{
	struct url_parts u;
	char reasons[96], *host = NULL, *suggestion = NULL;
	hc_error ignored = {0};
	hc_rc rc;

	*out = NULL;
	if (!input || !*input)
		return hc_fail(err, HC_USAGE,
			       "%s is empty: give a host name such as "
			       "www.example.hk",
			       what);
	for (const unsigned char *p = (const unsigned char *)input; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return hc_fail(err, HC_USAGE,
				       "%s '%s' contains a space or control "
				       "character: a host name has none",
				       what, input);
	if (!url_split(input, &u))
		return normalize_plain(input, what, flags, out, err);

	/* A URL or host:port: say which host name to type instead. */
	url_reasons(&u, reasons, sizeof(reasons));
	host = strndup(u.host, u.host_len);
	if (!host)
		return hc_fail(err, HC_IO, "out of memory");
	if (*host && normalize_plain(host, what, flags, &suggestion, &ignored) != HC_OK)
		suggestion = NULL;
	if (*host)
		rc = hc_fail(err, HC_USAGE, "%s '%s' has %s, but must be a host name: type %s",
			     what, input, reasons, suggestion ? suggestion : host);
	else
		rc = hc_fail(err, HC_USAGE,
			     "%s '%s' has %s, but must be a host name such as "
			     "www.example.hk",
			     what, input, reasons);
	free(suggestion);
	free(host);
	return rc;
}

char *hc_hostname_to_unicode(const char *alabels)
{
	char *u = NULL, *copy;
	const char *p = alabels;
	bool idn = false;

	for (; p && *p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL)
		if (strncasecmp(p, "xn--", 4) == 0)
			idn = true;
	if (!idn || idn2_to_unicode_8z8z(alabels, &u, 0) != IDN2_OK)
		return NULL;
	copy = strdup(u);
	idn2_free(u);
	return copy;
}

/* ---- subjectAltName entries ------------------------------------------ */

static const char *const altname_type_names[] = {
	[HC_ALTNAME_DNS] = "DNS",
	[HC_ALTNAME_IP] = "IP",
	[HC_ALTNAME_EMAIL] = "email",
	[HC_ALTNAME_URI] = "URI",
};

const char *hc_altname_type_name(hc_altname_type type)
{
	return altname_type_names[type];
}

/* IPv4 or IPv6 in canonical text; false when the text is neither. */
static bool ip_canonical(const char *text, char out[INET6_ADDRSTRLEN])
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, text, addr) == 1)
		return inet_ntop(AF_INET, addr, out, INET6_ADDRSTRLEN) != NULL;
	if (inet_pton(AF_INET6, text, addr) == 1)
		return inet_ntop(AF_INET6, addr, out, INET6_ADDRSTRLEN) != NULL;
	return false;
}

static hc_rc normalize_email(const char *value, const char *what, char **out, hc_error *err)
{
	const char *at = strrchr(value, '@');
	char *domain = NULL;
	hc_rc rc;

	if (!at || at == value || !at[1])
		return hc_fail(err, HC_USAGE,
			       "%s email:%s is not an email address "
			       "(local-part@domain)",
			       what, value);
	for (const char *p = value; p < at; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '@')
			return hc_fail(err, HC_USAGE,
				       "%s email:%s: the part before '@' must be "
				       "printable ASCII without spaces",
				       what, value);
	if (at - value > 64)
		return hc_fail(err, HC_USAGE,
			       "%s email:%s: the part before '@' is longer than "
			       "64 characters",
			       what, value);
	if ((rc = hc_hostname_normalize(at + 1, what, 0, &domain, err)) != HC_OK)
		return rc;
	if (asprintf(out, "%.*s@%s", (int)(at - value), value, domain) < 0) {
		*out = NULL;
		rc = hc_fail(err, HC_IO, "out of memory");
	}
	free(domain);
	return rc;
}

static hc_rc normalize_uri(const char *value, const char *what, char **out, hc_error *err)
{
	const char *p = value;

	if (!isalpha((unsigned char)*p))
		goto bad;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	if (*p != ':' || !p[1])
		goto bad;
	for (p = value; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return hc_fail(err, HC_USAGE,
				       "%s URI:%s must be ASCII without spaces "
				       "(percent-encode, and use A-labels for host names)",
				       what, value);
	*out = strdup(value);
	return *out ? HC_OK : hc_fail(err, HC_IO, "out of memory");
bad:
	return hc_fail(err, HC_USAGE, "%s URI:%s is not a URI (scheme:...)", what, value);
}

bool hc_altnames_contains(const hc_altnames *list, hc_altname_type type, const char *value)
{
	for (size_t i = 0; i < list->count; i++) {
		if (list->items[i].type != type)
			continue;
		if (type == HC_ALTNAME_URI ? strcmp(list->items[i].value, value) == 0
					   : strcasecmp(list->items[i].value, value) == 0)
			return true;
	}
	return false;
}

hc_rc hc_altnames_add_typed(hc_altnames *list, hc_altname_type type, const char *value,
			    const char *what, hc_error *err)
{
	char ip[INET6_ADDRSTRLEN], *norm = NULL;
	hc_rc rc = HC_OK;

	switch (type) {
	case HC_ALTNAME_DNS:
		if (ip_canonical(value, ip))
			return hc_fail(err, HC_USAGE, "%s DNS:%s is an IP address: use IP:%s", what,
				       value, value);
		rc = hc_hostname_normalize(value, what, HC_HOST_WILDCARD, &norm, err);
		break;
	case HC_ALTNAME_IP:
		if (!ip_canonical(value, ip))
			return hc_fail(err, HC_USAGE, "%s IP:%s is not an IPv4 or IPv6 address",
				       what, value);
		norm = strdup(ip);
		break;
	case HC_ALTNAME_EMAIL: rc = normalize_email(value, what, &norm, err); break;
	case HC_ALTNAME_URI: rc = normalize_uri(value, what, &norm, err); break;
	}
	if (rc != HC_OK)
		return rc;
	if (!norm)
		return hc_fail(err, HC_IO, "out of memory");
	if (hc_altnames_contains(list, type, norm)) {
		free(norm);
		return HC_OK;
	}
	if (!hc_array_grow(&list->items, &list->cap, list->count, sizeof(*list->items))) {
		free(norm);
		return hc_fail(err, HC_IO, "out of memory");
	}
	list->items[list->count++] = (hc_altname){type, norm};
	return HC_OK;
}

hc_rc hc_altnames_add(hc_altnames *list, const char *text, const char *what, hc_error *err)
{
	static const struct {
		const char *prefix;
		hc_altname_type type;
	} prefixes[] = {
		{"DNS:", HC_ALTNAME_DNS},
		{"IP:", HC_ALTNAME_IP},
		{"email:", HC_ALTNAME_EMAIL},
		{"URI:", HC_ALTNAME_URI},
	};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i].prefix);
		if (strncasecmp(text, prefixes[i].prefix, n) == 0)
			return hc_altnames_add_typed(list, prefixes[i].type, text + n, what, err);
	}
	return hc_altnames_add_host(list, text, what, err);
}

hc_rc hc_altnames_add_host(hc_altnames *list, const char *text, const char *what, hc_error *err)
{
	char ip[INET6_ADDRSTRLEN];

	if (ip_canonical(text, ip))
		return hc_altnames_add_typed(list, HC_ALTNAME_IP, text, what, err);
	return hc_altnames_add_typed(list, HC_ALTNAME_DNS, text, what, err);
}

static GENERAL_NAME *general_name(const hc_altname *a)
{
	GENERAL_NAME *g = NULL;
	ASN1_IA5STRING *s;
	int kind = a->type == HC_ALTNAME_DNS	 ? GEN_DNS
		   : a->type == HC_ALTNAME_EMAIL ? GEN_EMAIL
						 : GEN_URI;

	if (a->type == HC_ALTNAME_IP) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(a->value);
		if (ip && (g = GENERAL_NAME_new()))
			GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
		else
			ASN1_OCTET_STRING_free(ip);
		return g;
	}
	s = ASN1_IA5STRING_new();
	if (!s || !ASN1_STRING_set(s, a->value, (int)strlen(a->value)) ||
	    !(g = GENERAL_NAME_new())) {
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(g, kind, s);
	return g;
}

hc_rc hc_altnames_extension(const hc_altnames *list, bool critical, X509_EXTENSION **out,
			    hc_error *err)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	hc_rc rc = HC_OK;

	*out = NULL;
	if (!names)
		return hc_fail(err, HC_IO, "out of memory");
	for (size_t i = 0; i < list->count; i++) {
		GENERAL_NAME *g = general_name(&list->items[i]);
		if (!g || !sk_GENERAL_NAME_push(names, g)) {
			GENERAL_NAME_free(g);
			rc = hc_fail_ssl(err, HC_IO, "encoding subjectAltName %s",
					 list->items[i].value);
			goto out;
		}
	}
	*out = X509V3_EXT_i2d(NID_subject_alt_name, critical ? 1 : 0, names);
	if (!*out)
		rc = hc_fail_ssl(err, HC_IO, "encoding the subjectAltName extension");
out:
	GENERAL_NAMES_free(names);
	return rc;
}

void hc_altnames_clear(hc_altnames *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i].value);
	free(list->items);
	list->items = NULL;
	list->count = list->cap = 0;
}
