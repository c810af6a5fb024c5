/* SPEC: csr, subject — the three forms people type, checked and encoded the way CAs expect. */
#include "hsmcert/subject.h"

#include "hsmcert/array.h"

#include <ctype.h>
#include <openssl/objects.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The order CAs expect; everything else follows in the order given. */
enum { ORDER_C, ORDER_ST, ORDER_L, ORDER_O, ORDER_OU, ORDER_CN, ORDER_OTHER };

enum string_kind { UTF8, PRINTABLE, IA5 };

static const struct attr_type {
	int nid;
	const char *names[3]; /* accepted spellings, case-insensitive; the first is printed */
	unsigned max_chars;   /* RFC 5280 Appendix A upper bounds (X.520 where 5280 is silent) */
	bool single;	      /* a subject has at most one */
	int order;
	enum string_kind kind;
} attr_types[] = {
	{NID_countryName, {"C", "countryName"}, 2, true, ORDER_C, PRINTABLE},
	{NID_stateOrProvinceName, {"ST", "S", "stateOrProvinceName"}, 128, true, ORDER_ST, UTF8},
	{NID_localityName, {"L", "localityName"}, 128, true, ORDER_L, UTF8},
	{NID_organizationName, {"O", "organizationName"}, 64, true, ORDER_O, UTF8},
	{NID_organizationalUnitName, {"OU", "organizationalUnitName"}, 64, false, ORDER_OU, UTF8},
	{NID_commonName, {"CN", "commonName"}, 64, true, ORDER_CN, UTF8},
	/* RFC 5280 allows 255; OpenSSL refuses more than 128, so CAs never see more. */
	{NID_pkcs9_emailAddress, {"emailAddress", "E", "email"}, 128, false, ORDER_OTHER, IA5},
	{NID_serialNumber, {"serialNumber"}, 64, true, ORDER_OTHER, PRINTABLE},
	{NID_streetAddress, {"street", "streetAddress"}, 128, false, ORDER_OTHER, UTF8},
	{NID_postalCode, {"postalCode"}, 40, false, ORDER_OTHER, UTF8},
	{NID_domainComponent, {"DC", "domainComponent"}, 63, false, ORDER_OTHER, IA5},
	{NID_userId, {"UID", "userId"}, 256, false, ORDER_OTHER, UTF8},
	{NID_title, {"title"}, 64, false, ORDER_OTHER, UTF8},
	{NID_givenName, {"GN", "givenName"}, 32768, false, ORDER_OTHER, UTF8},
	{NID_surname, {"SN", "surname"}, 32768, false, ORDER_OTHER, UTF8},
	{NID_initials, {"initials"}, 32768, false, ORDER_OTHER, UTF8},
	{NID_businessCategory, {"businessCategory"}, 128, true, ORDER_OTHER, UTF8},
	{NID_jurisdictionCountryName,
	 {"jurisdictionC", "jurisdictionCountryName"},
	 2,
	 true,
	 ORDER_OTHER,
	 PRINTABLE},
	{NID_jurisdictionStateOrProvinceName,
	 {"jurisdictionST", "jurisdictionStateOrProvinceName"},
	 128,
	 true,
	 ORDER_OTHER,
	 UTF8},
	{NID_jurisdictionLocalityName,
	 {"jurisdictionL", "jurisdictionLocalityName"},
	 128,
	 true,
	 ORDER_OTHER,
	 UTF8},
	{NID_organizationIdentifier, {"organizationIdentifier"}, 64, true, ORDER_OTHER, UTF8},
};
#define N_ATTR_TYPES (sizeof(attr_types) / sizeof(attr_types[0]))

/* Any other registered attribute: no bound we know, UTF8String. */
static const struct attr_type other_type = {NID_undef, {NULL}, 32768, false, ORDER_OTHER, UTF8};

static const struct attr_type *type_by_nid(int nid)
{
	for (size_t i = 0; i < N_ATTR_TYPES; i++)
		if (attr_types[i].nid == nid)
			return &attr_types[i];
	return &other_type;
}

static const char *type_name(int nid)
{
	const struct attr_type *t = type_by_nid(nid);
	return t->names[0] ? t->names[0] : OBJ_nid2sn(nid);
}

/* A type name as typed: known spellings, then OpenSSL's names and dotted OIDs. */
static hc_rc type_lookup(const char *name, int *nid, hc_error *err)
{
	for (size_t i = 0; i < N_ATTR_TYPES; i++)
		for (size_t j = 0; j < 3 && attr_types[i].names[j]; j++)
			if (strcasecmp(name, attr_types[i].names[j]) == 0) {
				*nid = attr_types[i].nid;
				return HC_OK;
			}
	*nid = OBJ_txt2nid(name);
	if (*nid != NID_undef)
		return HC_OK;
	return hc_fail(err, HC_USAGE,
		       "unknown attribute type '%s' in the subject: use C, ST (or S), L, O, OU, "
		       "CN, emailAddress, serialNumber, DC, ... or a dotted OID",
		       name);
}

static hc_rc append(hc_subject *s, int nid, const char *value, size_t len, hc_error *err)
{
	char *copy = strndup(value, len);

	if (!copy || !hc_array_grow(&s->attrs, &s->cap, s->count, sizeof(*s->attrs))) {
		free(copy);
		return hc_fail(err, HC_IO, "out of memory");
	}
	s->attrs[s->count++] = (hc_subject_attr){nid, copy};
	return HC_OK;
}

/* ---- parsing --------------------------------------------------------- */

struct buf {
	char *data;
	size_t len, cap;
};

static bool buf_put(struct buf *b, char c)
{
	if (!hc_array_reserve(&b->data, &b->cap, b->len + 2, 1)) /* c and the NUL */
		return false;
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_type_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* After a '+': does "TYPE=" follow? Then it joins attributes; else it is a literal '+'. */
static bool starts_attribute(const char *p)
{
	const char *q;

	while (*p == ' ')
		p++;
	q = p;
	while (is_type_char(*q))
		q++;
	if (q == p)
		return false;
	while (*q == ' ')
		q++;
	return *q == '=';
}

struct parser {
	const char *text; /* the whole subject, for messages */
	const char *p;
	char separator; /* ',' or '/' */
	hc_error *err;
};

/* One escape after a backslash: \XX (a byte in hex) or \c (the character c). */
static hc_rc parse_escape(struct parser *ps, struct buf *b)
{
	const char *p = ps->p + 1;
	int hi = hexval(p[0]), lo = hi >= 0 ? hexval(p[1]) : -1;

	if (hi >= 0 && lo >= 0) {
		/* A NUL would end the value early wherever it is handled as a C string. */
		if (hi == 0 && lo == 0)
			return hc_fail(ps->err, HC_USAGE,
				       "subject '%s': \\00 (a NUL byte) cannot be "
				       "part of a name",
				       ps->text);
		if (!buf_put(b, (char)(hi * 16 + lo)))
			return hc_fail(ps->err, HC_IO, "out of memory");
		ps->p = p + 2;
		return HC_OK;
	}
	if (*p == '\0')
		return hc_fail(ps->err, HC_USAGE, "subject '%s' ends with a lone backslash",
			       ps->text);
	if (!buf_put(b, *p))
		return hc_fail(ps->err, HC_IO, "out of memory");
	ps->p = p + 1;
	return HC_OK;
}

/*
 * One value, up to an unescaped separator or '+'-joined attribute. Returns
 * the character that ended it ('\0', the separator, or '+') in *end.
 * Unescaped spaces at either end are dropped; a value may be quoted whole.
 */
static hc_rc parse_value(struct parser *ps, const char *type, struct buf *b, char *end)
{
	size_t keep = 0; /* length up to the last character that is not an unescaped space */
	hc_rc rc;

	while (*ps->p == ' ')
		ps->p++;
	if (*ps->p == '"') {
		const char *open = ps->p++;
		while (*ps->p && *ps->p != '"') {
			if (*ps->p == '\\') {
				if ((rc = parse_escape(ps, b)) != HC_OK)
					return rc;
			} else if (!buf_put(b, *ps->p++)) {
				return hc_fail(ps->err, HC_IO, "out of memory");
			}
		}
		if (*ps->p != '"')
			return hc_fail(ps->err, HC_USAGE,
				       "%s: the quote opened at '%.20s' is "
				       "never closed",
				       type, open);
		ps->p++;
		while (*ps->p == ' ')
			ps->p++;
		*end = *ps->p;
		if (*end == '+' && starts_attribute(ps->p + 1)) {
			ps->p++;
			return HC_OK;
		}
		if (*end != '\0' && *end != ps->separator)
			return hc_fail(ps->err, HC_USAGE,
				       "%s: unexpected '%.20s' after the quoted "
				       "value (a '%c' must come next)",
				       type, ps->p, ps->separator);
		if (*end)
			ps->p++;
		return HC_OK;
	}
	if (*ps->p == '#' && ps->separator == ',')
		return hc_fail(ps->err, HC_USAGE,
			       "%s: hex-encoded values (#...) are not "
			       "supported; type the value as text",
			       type);
	for (;;) {
		char c = *ps->p;
		if (c == '\0' || c == ps->separator || (c == '+' && starts_attribute(ps->p + 1))) {
			*end = c;
			if (c)
				ps->p++;
			break;
		}
		if (c == '\\') {
			if ((rc = parse_escape(ps, b)) != HC_OK)
				return rc;
			keep = b->len;
			continue;
		}
		if (!buf_put(b, c))
			return hc_fail(ps->err, HC_IO, "out of memory");
		ps->p++;
		if (c != ' ')
			keep = b->len;
	}
	b->len = keep;
	if (b->data)
		b->data[keep] = '\0';
	return HC_OK;
}

/* TYPE=value, after any leading spaces; the type name ends at '='. */
static hc_rc parse_attribute(struct parser *ps, hc_subject *out, char *end)
{
	char type[64];
	const char *start, *stop;
	struct buf value = {0};
	size_t n;
	int nid;
	hc_rc rc;

	while (*ps->p == ' ')
		ps->p++;
	start = ps->p;
	while (is_type_char(*ps->p))
		ps->p++;
	stop = ps->p;
	while (*ps->p == ' ')
		ps->p++;
	if (*ps->p != '=' || stop == start) {
		size_t show = strcspn(start, ps->separator == '/' ? "/" : ",");
		return hc_fail(ps->err, HC_USAGE,
			       "subject part '%.*s' is not TYPE=value (e.g. CN=www.example.hk); "
			       "a '%c' inside a value needs a backslash or quotes",
			       (int)(show > 60 ? 60 : show), start, ps->separator);
	}
	n = (size_t)(stop - start);
	if (n >= sizeof(type))
		return hc_fail(ps->err, HC_USAGE, "subject attribute type '%.*s...' is too long",
			       20, start);
	memcpy(type, start, n);
	type[n] = '\0';
	ps->p++;
	if ((rc = type_lookup(type, &nid, ps->err)) != HC_OK)
		return rc;
	if ((rc = parse_value(ps, type, &value, end)) == HC_OK) {
		if (value.len == 0)
			rc = hc_fail(ps->err, HC_USAGE, "subject attribute %s has an empty value",
				     type);
		else
			rc = append(out, nid, value.data, value.len, ps->err);
	}
	free(value.data);
	return rc;
}

hc_rc hc_subject_parse(const char *text, hc_subject *out, hc_error *err)
{
	struct parser ps = {text, text, ',', err};
	size_t before = out->count;
	char end = '\0';
	hc_rc rc = HC_OK;

	while (*ps.p == ' ')
		ps.p++;
	if (*ps.p == '\0')
		return hc_error_hint(
			err, HC_HINT_SUBJECT_EXAMPLE,
			hc_fail(err, HC_USAGE, "the subject is empty: give at least CN=..."));
	if (*ps.p == '/') {
		ps.separator = '/';
		ps.p++;
	}
	do {
		if (ps.separator == '/' && *ps.p == '\0')
			break; /* "/CN=x/": a trailing slash ends the list */
		rc = parse_attribute(&ps, out, &end);
	} while (rc == HC_OK && end != '\0');
	if (rc != HC_OK) {
		/* Leave `out` as it was: a failed parse adds nothing. */
		while (out->count > before)
			free(out->attrs[--out->count].value);
		hc_error_input(err, HC_INPUT_SUBJECT, rc);
	}
	return rc;
}

hc_rc hc_subject_set(hc_subject *s, const char *type, const char *value, hc_error *err)
{
	size_t kept = 0;
	int nid;
	hc_rc rc = type_lookup(type, &nid, err);

	if (rc != HC_OK)
		return rc;
	for (size_t i = 0; i < s->count; i++) {
		if (s->attrs[i].nid == nid)
			free(s->attrs[i].value);
		else
			s->attrs[kept++] = s->attrs[i];
	}
	s->count = kept;
	if (!value || !*value)
		return HC_OK;
	return append(s, nid, value, strlen(value), err);
}

hc_rc hc_subject_add(hc_subject *s, const char *type, const char *value, hc_error *err)
{
	int nid;
	hc_rc rc = type_lookup(type, &nid, err);

	if (rc != HC_OK)
		return rc;
	if (!value || !*value)
		return hc_fail(err, HC_USAGE, "subject attribute %s has an empty value", type);
	return append(s, nid, value, strlen(value), err);
}

hc_rc hc_subject_copy(hc_subject *dst, const hc_subject *src, hc_error *err)
{
	for (size_t i = 0; src && i < src->count; i++) {
		hc_rc rc = append(dst, src->attrs[i].nid, src->attrs[i].value,
				  strlen(src->attrs[i].value), err);
		if (rc != HC_OK)
			return rc;
	}
	return HC_OK;
}

const char *hc_subject_get(const hc_subject *s, int nid)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->attrs[i].nid == nid)
			return s->attrs[i].value;
	return NULL;
}

void hc_subject_clear(hc_subject *s)
{
	for (size_t i = 0; i < s->count; i++)
		free(s->attrs[i].value);
	free(s->attrs);
	s->attrs = NULL;
	s->count = s->cap = 0;
}

/* ---- checking and encoding ------------------------------------------- */

/* Code points in valid UTF-8 (no overlongs, surrogates or values past U+10FFFF); -1 if invalid. */
static long utf8_chars(const unsigned char *p)
{
	long n = 0;

	while (*p) {
		unsigned c = *p, len, cp;
		if (c < 0x80) {
			p++;
			n++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return -1;
		for (unsigned i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return -1;
		p += len;
		n++;
	}
	return n;
}

/* X.680 PrintableString: letters, digits, space and '()+,-./:=? */
static bool printable(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(" '()+,-./:=?", *s))
			return false;
	return true;
}

static hc_rc check_value(const hc_subject_attr *a, const struct attr_type *t, hc_error *err)
{
	const char *name = type_name(a->nid);
	long chars = utf8_chars((const unsigned char *)a->value);

	if (chars < 0)
		return hc_fail(err, HC_USAGE, "subject %s is not valid UTF-8", name);
	for (const unsigned char *p = (const unsigned char *)a->value; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return hc_fail(err, HC_USAGE, "subject %s contains a control character",
				       name);
	if (t->max_chars == 2 && t->kind == PRINTABLE) {
		if (chars != 2 || !isalpha((unsigned char)a->value[0]) ||
		    !isalpha((unsigned char)a->value[1]))
			return hc_fail(err, HC_USAGE,
				       "subject %s must be a two-letter country "
				       "code (ISO 3166), e.g. %s=HK; got '%s'",
				       name, name, a->value);
		return HC_OK;
	}
	if ((unsigned long)chars > t->max_chars)
		return hc_fail(err, HC_USAGE,
			       "subject %s is %ld characters long; RFC 5280 allows "
			       "at most %u",
			       name, chars, t->max_chars);
	if (t->kind == PRINTABLE && !printable(a->value))
		return hc_fail(err, HC_USAGE,
			       "subject %s '%s' may only hold letters, digits, "
			       "spaces and '()+,-./:=? (PrintableString)",
			       name, a->value);
	if (t->kind == IA5 && (size_t)chars != strlen(a->value))
		return hc_fail(err, HC_USAGE, "subject %s '%s' must be ASCII", name, a->value);
	return HC_OK;
}

static int asn1_type(enum string_kind kind)
{
	return kind == PRINTABLE ? V_ASN1_PRINTABLESTRING
	       : kind == IA5	 ? V_ASN1_IA5STRING
				 : V_ASN1_UTF8STRING;
}

hc_rc hc_subject_to_name(const hc_subject *s, X509_NAME **out, hc_error *err)
{
	X509_NAME *name = X509_NAME_new();
	hc_rc rc = HC_OK;

	*out = NULL;
	if (!name)
		return hc_fail(err, HC_IO, "out of memory");
	for (size_t i = 0; i < s->count; i++) {
		const struct attr_type *t = type_by_nid(s->attrs[i].nid);
		if ((rc = check_value(&s->attrs[i], t, err)) != HC_OK)
			goto fail;
		for (size_t j = 0; t->single && j < i; j++)
			if (s->attrs[j].nid == s->attrs[i].nid) {
				rc = hc_fail(err, HC_USAGE,
					     "subject %s is given twice ('%s' and "
					     "'%s'); a subject has one",
					     type_name(t->nid), s->attrs[j].value,
					     s->attrs[i].value);
				goto fail;
			}
	}
	/* Stable: C, ST, L, O, OU, CN, then the rest, each group in the order given. */
	for (int order = ORDER_C; order <= ORDER_OTHER; order++) {
		for (size_t i = 0; i < s->count; i++) {
			const struct attr_type *t = type_by_nid(s->attrs[i].nid);
			char *v = s->attrs[i].value, cc[3];
			if (t->order != order)
				continue;
			if (t->max_chars == 2 && t->kind == PRINTABLE) {
				cc[0] = (char)toupper((unsigned char)v[0]);
				cc[1] = (char)toupper((unsigned char)v[1]);
				cc[2] = '\0';
				v = cc;
			}
			if (!X509_NAME_add_entry_by_NID(name, s->attrs[i].nid, asn1_type(t->kind),
							(const unsigned char *)v, (int)strlen(v),
							-1, 0)) {
				rc = hc_fail_ssl(err, HC_USAGE, "cannot encode subject %s '%s'",
						 type_name(t->nid), v);
				goto fail;
			}
		}
	}
	*out = name;
	return HC_OK;
fail:
	X509_NAME_free(name);
	return rc;
}
