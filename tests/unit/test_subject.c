/* Subject forms, host names (IDN) and subjectAltName entries: src/x509/subject.c,
 * src/x509/hostname.c. */
#include "support.h"

#include "hsmcert/subject.h"

#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* One line per attribute, "SN=value (type)", in encoded order. */
static char *name_dump(const X509_NAME *name)
{
	static char out[2048];
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < X509_NAME_entry_count(name); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%s=%.*s(%d)",
					 i ? "|" : "", OBJ_nid2sn(nid), ASN1_STRING_length(v),
					 (const char *)ASN1_STRING_get0_data(v),
					 ASN1_STRING_type(v));
	}
	return out;
}

/* Parse and encode; the dump of the encoded name. */
static const char *encode(const char *text)
{
	hc_subject s = {0};
	X509_NAME *name = NULL;
	hc_error err = {0};
	static char out[2048];

	cr_assert_eq(hc_subject_parse(text, &s, &err), HC_OK, "%s: %s", text, err.message);
	cr_assert_eq(hc_subject_to_name(&s, &name, &err), HC_OK, "%s: %s", text, err.message);
	snprintf(out, sizeof(out), "%s", name_dump(name));
	X509_NAME_free(name);
	hc_subject_clear(&s);
	return out;
}

/* A subject that must be refused at parse or encode time; the message must hold `want`. */
static void refused(const char *text, const char *want)
{
	hc_subject s = {0};
	X509_NAME *name = NULL;
	hc_error err = {0};
	hc_rc rc = hc_subject_parse(text, &s, &err);

	if (rc == HC_OK)
		rc = hc_subject_to_name(&s, &name, &err);
	cr_assert_eq(rc, HC_USAGE, "'%s' was accepted", text);
	cr_assert_null(name);
	cr_assert(strstr(err.message, want), "'%s': message '%s' lacks '%s'", text, err.message,
		  want);
	hc_subject_clear(&s);
}

#define U8 V_ASN1_UTF8STRING
#define PR V_ASN1_PRINTABLESTRING

Test(subject, three_forms_encode_the_same_in_ca_order)
{
	const char *want = "C=HK(19)|ST=Hong Kong(12)|L=Hong Kong(12)|O=My Organization(12)|"
			   "OU=My Organization Unit(12)|CN=www.myserver.com(12)";

	cr_assert_str_eq(encode("C=HK,S=\"Hong Kong\",L=\"Hong Kong\",O=\"My Organization\","
				"OU=\"My Organization Unit\",CN=www.myserver.com"),
			 want);
	cr_assert_str_eq(encode("CN=www.myserver.com,OU=My Organization Unit,O=My Organization,"
				"L=Hong Kong,ST=Hong Kong,C=HK"),
			 want);
	cr_assert_str_eq(encode("/C=HK/ST=Hong Kong/L=Hong Kong/O=My Organization/"
				"OU=My Organization Unit/CN=www.myserver.com"),
			 want);
	/* Long names, mixed case, spaces around separators. */
	cr_assert_str_eq(encode(" commonName = www.myserver.com , organizationalUnitName=My "
				"Organization Unit, o=My Organization,localityName=Hong Kong, "
				"stateOrProvinceName=Hong Kong, countryName=hk"),
			 want);
}

Test(subject, escapes_quotes_and_slashes)
{
	cr_assert_str_eq(encode("CN=a.hk,O=My Org\\, Ltd"), "O=My Org, Ltd(12)|CN=a.hk(12)");
	cr_assert_str_eq(encode("CN=a.hk,O=\"My Org, Ltd\""), "O=My Org, Ltd(12)|CN=a.hk(12)");
	cr_assert_str_eq(encode("CN=a.hk,O=\"Say \\\"hi\\\"\""), "O=Say \"hi\"(12)|CN=a.hk(12)");
	cr_assert_str_eq(encode("/O=A\\/B, Ltd/CN=a.hk"), "O=A/B, Ltd(12)|CN=a.hk(12)");
	cr_assert_str_eq(encode("CN=a.hk,O=\\41BC\\20"), "O=ABC (12)|CN=a.hk(12)");
	/* '+' joins attributes only when TYPE= follows; otherwise it is text. */
	cr_assert_str_eq(encode("CN=a.hk+O=AT+T"), "O=AT+T(12)|CN=a.hk(12)");
	cr_assert_str_eq(encode("/OU=x+OU=y/CN=a.hk"), "OU=x(12)|OU=y(12)|CN=a.hk(12)");
	/* Others keep their order after CN; email as IA5String. */
	cr_assert_str_eq(encode("emailAddress=a@b.hk,CN=a.hk,DC=example,C=HK"),
			 "C=HK(19)|CN=a.hk(12)|emailAddress=a@b.hk(22)|DC=example(22)");
}

Test(subject, utf8_survives_as_utf8string)
{
	/* 香港郵政 (Hongkong Post) and a Chinese organisation name. */
	cr_assert_str_eq(encode("C=HK,O=香港郵政署,CN=www.example.hk"),
			 "C=HK(19)|O=香港郵政署(12)|CN=www.example.hk(12)");
}

Test(subject, malformed_inputs_are_named)
{
	refused("", "empty");
	refused("CN", "not TYPE=value");
	refused("www.example.hk", "not TYPE=value");
	refused("CN=a.hk,,O=x", "not TYPE=value");
	refused("CN=", "empty value");
	refused("/CN=a.hk//O=x", "not TYPE=value");
	refused("XYZ=1,CN=a.hk", "unknown attribute type 'XYZ'");
	refused("CN=a.hk,O=\"unterminated", "never closed");
	refused("CN=a.hk,O=\"x\"y", "after the quoted value");
	refused("CN=a.hk\\", "lone backslash");
	refused("C=Hong Kong,CN=a.hk", "two-letter country code");
	refused("C=H1,CN=a.hk", "two-letter country code");
	refused("C=HK,C=CN,CN=a.hk", "C is given twice");
	refused("CN=a.hk,CN=b.hk", "CN is given twice");
	refused("CN=#04024869", "hex-encoded");
	refused("CN=a.hk,O=\xff\xfe", "not valid UTF-8");
	refused("CN=a.hk,O=a\\0ab", "control character");
	refused("O=x\\00y,CN=a.hk", "NUL byte");
	refused("CN=a.hk,emailAddress=é@x.hk", "must be ASCII");
	refused("CN=a.hk,serialNumber=a_b", "PrintableString");
}

Test(subject, rfc5280_upper_bounds_count_characters)
{
	char text[512];
	char o64[65], o65[66];

	memset(o64, 'x', 64);
	o64[64] = '\0';
	memset(o65, 'x', 65);
	o65[65] = '\0';
	snprintf(text, sizeof(text), "CN=a.hk,O=%s", o64);
	encode(text);
	snprintf(text, sizeof(text), "CN=a.hk,O=%s", o65);
	refused(text, "O is 65 characters long; RFC 5280 allows at most 64");
	/* 64 Chinese characters are 192 bytes but within the bound. */
	text[0] = '\0';
	strcat(text, "CN=a.hk,O=");
	for (int i = 0; i < 64; i++)
		strcat(text, "港");
	encode(text);
}

Test(subject, per_field_values_replace)
{
	hc_subject s = {0};
	X509_NAME *name = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_subject_parse("CN=old.hk,O=Org,OU=a,OU=b", &s, &err), HC_OK);
	cr_assert_eq(hc_subject_set(&s, "cn", "new.hk", &err), HC_OK);
	cr_assert_eq(hc_subject_set(&s, "OU", "c", &err), HC_OK);
	cr_assert_eq(hc_subject_set(&s, "S", "Kowloon", &err), HC_OK);
	cr_assert_eq(hc_subject_set(&s, "O", NULL, &err), HC_OK);
	cr_assert_str_eq(hc_subject_get(&s, NID_commonName), "new.hk");
	cr_assert_eq(hc_subject_to_name(&s, &name, &err), HC_OK);
	cr_assert_str_eq(name_dump(name), "ST=Kowloon(12)|OU=c(12)|CN=new.hk(12)");
	cr_assert_eq(hc_subject_set(&s, "Q", "x", &err), HC_USAGE);
	X509_NAME_free(name);
	hc_subject_clear(&s);
}

/* ---- host names ---------------------------------------------------- */

static void host_ok(const char *in, unsigned flags, const char *want)
{
	char *out = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_hostname_normalize(in, "CN", flags, &out, &err), HC_OK, "%s: %s", in,
		     err.message);
	cr_assert_str_eq(out, want);
	free(out);
}

static void host_refused(const char *in, const char *want)
{
	char *out = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_hostname_normalize(in, "CN", HC_HOST_WILDCARD, &out, &err), HC_USAGE,
		     "'%s' was accepted as %s", in, out);
	cr_assert(strstr(err.message, want), "'%s': message '%s' lacks '%s'", in, err.message,
		  want);
}

Test(hostname, idn_to_alabels)
{
	char *u;

	host_ok("www.香港郵政.hk", 0, "www.xn--5bvv2rbn4a0hh.hk");
	host_ok("WWW.Example.HK", 0, "www.example.hk");
	host_ok("www.example.hk.", 0, "www.example.hk");
	host_ok("faß.de", 0, "xn--fa-hia.de"); /* non-transitional: ß stays */
	host_ok("*.香港郵政.hk", HC_HOST_WILDCARD, "*.xn--5bvv2rbn4a0hh.hk");
	host_ok("xn--5bvv2rbn4a0hh.hk", 0, "xn--5bvv2rbn4a0hh.hk");
	host_ok("a_b.example.hk", 0, "a_b.example.hk");
	u = hc_hostname_to_unicode("www.xn--5bvv2rbn4a0hh.hk");
	cr_assert_str_eq(u, "www.香港郵政.hk");
	free(u);
	cr_assert_null(hc_hostname_to_unicode("www.example.hk"));
}

Test(hostname, urls_name_the_host_to_type)
{
	host_refused("https://www.x.hk:443/a", "has a scheme, a port and a path, but must be a "
					       "host name: type www.x.hk");
	host_refused("www.x.hk:8443", "has a port, but must be a host name: type www.x.hk");
	host_refused("www.x.hk/path", "has a path, but must be a host name: type www.x.hk");
	host_refused("http://user@WWW.香港郵政.hk/", "type www.xn--5bvv2rbn4a0hh.hk");
	host_refused("https://", "must be a host name such as");
}

Test(hostname, invalid_names)
{
	char *out = NULL;
	hc_error err = {0};

	host_refused("☃.com", "not a valid host name");
	host_refused("xn--zz.hk", "not a valid host name");
	host_refused("ab--c.hk", "not a valid host name");
	host_refused("-a.hk", "not a valid host name");
	host_refused("a..hk", "empty label");
	host_refused("a b.hk", "space");
	host_refused("a!.hk", "character '!'");
	host_refused("www.*.hk", "leftmost");
	host_refused("w*.x.hk", "leftmost");
	host_refused("me@x.hk", "email:me@x.hk");
	host_refused("1.2.3.999", "nor an IP address");
	host_refused("", "empty");
	cr_assert_eq(hc_hostname_normalize("*.x.hk", "CN", 0, &out, &err), HC_USAGE);
	cr_assert(strstr(err.message, "wildcard"), "%s", err.message);
}

/* RFC 1035 2.3.4: 63 octets a label, 253 a name (without the final dot), after IDN mapping. */
Test(hostname, length_limits)
{
	char label[80], name[300], *out = NULL;
	hc_error err = {0};

	memset(label, 'a', 63);
	strcpy(label + 63, ".hk");
	host_ok(label, 0, label);
	memset(label, 'a', 64);
	strcpy(label + 64, ".hk");
	cr_assert_eq(hc_hostname_normalize(label, "CN", 0, &out, &err), HC_USAGE,
		     "a 64-octet label was accepted");
	/* 4 labels of 62 + dots = 251, then ".hk" makes 254. */
	name[0] = '\0';
	for (int i = 0; i < 4; i++) {
		memset(label, 'b', 62);
		label[62] = '\0';
		strcat(name, label);
		strcat(name, ".");
	}
	strcat(name, "hk");
	cr_assert_eq(strlen(name), 254);
	cr_assert_eq(hc_hostname_normalize(name, "CN", 0, &out, &err), HC_USAGE,
		     "a 254-octet name was accepted");
	name[strlen(name) - 3] = '\0'; /* 251: "bbb...b.bbb...b" without ".hk" */
	host_ok(name, 0, name);
}

/* ---- subjectAltName ------------------------------------------------- */

Test(altnames, prefixes_normalise_and_deduplicate)
{
	hc_altnames l = {0};
	hc_error err = {0};
	X509_EXTENSION *ext = NULL;
	BIO *mem = BIO_new(BIO_s_mem());
	char text[1024] = "";
	int n;

	cr_assert_eq(hc_altnames_add(&l, "www.香港郵政.hk", "--san", &err), HC_OK);
	cr_assert_eq(hc_altnames_add(&l, "DNS:WWW.xn--5bvv2rbn4a0hh.hk", "--san", &err), HC_OK);
	cr_assert_eq(hc_altnames_add(&l, "IP:10.0.0.1", "--san", &err), HC_OK);
	cr_assert_eq(hc_altnames_add(&l, "2001:DB8::1", "--san", &err), HC_OK);
	cr_assert_eq(hc_altnames_add(&l, "email:Admin@香港郵政.hk", "--san", &err), HC_OK);
	cr_assert_eq(hc_altnames_add(&l, "URI:https://www.example.hk/", "--san", &err), HC_OK);
	cr_assert_eq(hc_altnames_add(&l, "ip:10.0.0.1", "--san", &err), HC_OK);
	cr_assert_eq(l.count, 5);
	cr_assert_eq(l.items[2].type, HC_ALTNAME_IP);
	cr_assert_str_eq(l.items[2].value, "2001:db8::1");
	cr_assert_str_eq(l.items[3].value, "Admin@xn--5bvv2rbn4a0hh.hk");

	cr_assert_eq(hc_altnames_extension(&l, false, &ext, &err), HC_OK, "%s", err.message);
	X509V3_EXT_print(mem, ext, 0, 0);
	n = BIO_read(mem, text, sizeof(text) - 1);
	text[n > 0 ? n : 0] = '\0';
	cr_assert_str_eq(text, "DNS:www.xn--5bvv2rbn4a0hh.hk, IP Address:10.0.0.1, "
			       "IP Address:2001:DB8:0:0:0:0:0:1, email:Admin@xn--5bvv2rbn4a0hh.hk, "
			       "URI:https://www.example.hk/");
	cr_assert_not(X509_EXTENSION_get_critical(ext));
	X509_EXTENSION_free(ext);
	BIO_free(mem);
	hc_altnames_clear(&l);
}

Test(altnames, bad_entries)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"IP:10.0.0", "not an IPv4 or IPv6 address"},
		{"IP:10.0.0.0/8", "not an IPv4 or IPv6 address"},
		{"DNS:10.0.0.1", "use IP:10.0.0.1"},
		{"email:nobody", "not an email address"},
		{"email:a b@x.hk", "printable ASCII"},
		{"email:a@x..hk", "empty label"},
		{"URI:no-scheme", "not a URI"},
		{"URI:https://香港.hk/", "must be ASCII"},
		{"https://www.x.hk/", "type www.x.hk"},
		{"www.x.hk:443", "type www.x.hk"},
		{"☃.com", "not a valid host name"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hc_altnames l = {0};
		hc_error err = {0};
		cr_assert_eq(hc_altnames_add(&l, cases[i].in, "--san", &err), HC_USAGE, "%s",
			     cases[i].in);
		cr_assert(strstr(err.message, cases[i].want), "%s: %s", cases[i].in, err.message);
		cr_assert_eq(l.count, 0);
	}
}
