/*
 * Subjects and names for certificate requests (SPEC: csr): the three subject
 * forms people type, per-field values, host names with IDN, and
 * subjectAltName entries. Everything here is input checking: malformed input
 * is HC_USAGE with a message that names the field and what to type instead.
 */
#ifndef HSMCERT_SUBJECT_H
#define HSMCERT_SUBJECT_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

#include "hsmcert/error.h"

/* ---- subjects -------------------------------------------------------- */

typedef struct hc_subject_attr {
	int nid;     /* NID_commonName, NID_countryName, ... */
	char *value; /* UTF-8 as given (C upper-cased) */
} hc_subject_attr;

/* Attributes in the order they were given; hc_subject_to_name orders them. */
typedef struct hc_subject {
	hc_subject_attr *attrs;
	size_t count;
	size_t cap; /* entries allocated: the hc_subject_* functions keep it */
} hc_subject;

/*
 * Parse a subject in any of the SPEC's forms, detected by its first character:
 *   OpenSSL   /C=HK/ST=Hong Kong/O=My Org/CN=www.example.hk  (\/ escapes a slash)
 *   RFC 4514  CN=www.example.hk,O=My Org\, Ltd,C=HK          (\, \+ \" \\ \XX escapes)
 *   Exchange  C=HK,S="Hong Kong",O="My Org, Ltd",CN=...     (S is ST, quoted values)
 * '+' joining attributes of one RDN is accepted; the attributes are kept
 * apart. Attribute types are case-insensitive short or long names
 * (CN, commonName, E/emailAddress, ...) or dotted OIDs. Appends to `out`.
 */
hc_rc hc_subject_parse(const char *text, hc_subject *out, hc_error *err);

/*
 * Set one field by type name ("CN", "O", "ST"/"S", "commonName", ...),
 * replacing any values of that type given before: per-field options win over
 * --subject. A NULL or empty value removes the field.
 */
hc_rc hc_subject_set(hc_subject *s, const char *type, const char *value, hc_error *err);

/* Append one more value of a type (a second OU), keeping those given before. */
hc_rc hc_subject_add(hc_subject *s, const char *type, const char *value, hc_error *err);

/* Append copies of every attribute of `src`. */
hc_rc hc_subject_copy(hc_subject *dst, const hc_subject *src, hc_error *err);

/* The first value of a type, or NULL. */
const char *hc_subject_get(const hc_subject *s, int nid);

/*
 * Check every value (UTF-8, no control characters, RFC 5280 upper bounds,
 * C two letters, single-valued types once) and encode the name in the order
 * C, ST, L, O, OU, CN, then the others as given: UTF8String, except C and
 * serialNumber (PrintableString) and emailAddress / DC (IA5String).
 */
hc_rc hc_subject_to_name(const hc_subject *s, X509_NAME **out, hc_error *err);

void hc_subject_clear(hc_subject *s);

/* ---- host names ------------------------------------------------------ */

enum {
	HC_HOST_WILDCARD = 1 << 0, /* allow "*." as the whole leftmost label */
};

/*
 * A DNS host name as certificates carry it: IDNs converted to A-labels
 * (libidn2, IDNA2008 with UTS#46 non-transitional mapping), lower case, no
 * trailing dot. A URL, a port or a path is HC_USAGE naming the host name to
 * type instead; so are invalid labels. `what` names the input ("CN",
 * "--san"). *out is malloc'd.
 */
hc_rc hc_hostname_normalize(const char *input, const char *what, unsigned flags, char **out,
			    hc_error *err);

/* The U-label form of a name with xn-- labels, or NULL when it has none (malloc'd). */
char *hc_hostname_to_unicode(const char *alabels);

/* ---- subjectAltName entries ------------------------------------------ */

typedef enum hc_altname_type {
	HC_ALTNAME_DNS,
	HC_ALTNAME_IP,
	HC_ALTNAME_EMAIL,
	HC_ALTNAME_URI,
} hc_altname_type;

typedef struct hc_altname {
	hc_altname_type type;
	char *value; /* normalised: A-labels, canonical IP text, lower-case domain */
} hc_altname;

typedef struct hc_altnames {
	hc_altname *items;
	size_t count;
	size_t cap; /* entries allocated: the hc_altnames_* functions keep it */
} hc_altnames;

/* "DNS", "IP", "email", "URI" */
const char *hc_altname_type_name(hc_altname_type type);

/*
 * Add a name as typed on the command line: a DNS name by default (an IP
 * address without prefix is taken as IP), or prefixed IP:, email:, URI:
 * (also DNS:, case-insensitive). Wildcards are allowed in DNS names.
 * Duplicates (after normalisation) are ignored. `what` names the source.
 */
hc_rc hc_altnames_add(hc_altnames *list, const char *text, const char *what, hc_error *err);
/* Add a host as a CN holds it: an IP address, else a DNS name (wildcards allowed). */
hc_rc hc_altnames_add_host(hc_altnames *list, const char *text, const char *what, hc_error *err);
/* Add an already typed entry (value normalised as above). */
hc_rc hc_altnames_add_typed(hc_altnames *list, hc_altname_type type, const char *value,
			    const char *what, hc_error *err);
bool hc_altnames_contains(const hc_altnames *list, hc_altname_type type, const char *value);
/* The subjectAltName extension; critical when the subject is empty (RFC 5280 4.2.1.6). */
hc_rc hc_altnames_extension(const hc_altnames *list, bool critical, X509_EXTENSION **out,
			    hc_error *err);
void hc_altnames_clear(hc_altnames *list);

#endif
