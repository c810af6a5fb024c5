/* SPEC: list. */
#include "cli.h"

#include "certview.h"
#include "hsmcert/certstore.h"
#include "hsmcert/hex.h"
#include "hsmcert/list.h"

#include <stdlib.h>
#include <string.h>

enum {
	OPT_WARN_DAYS = CLI_OPT_FIRST_COMMAND_OPTION,
	OPT_EXPIRING,
};

int usage_list(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert list [--warn-days N | --expiring DAYS] [--token URI]\n"
		"                    [--pin-source SRC] [--json]\n\n"
		"The token's inventory: every key pair with its certificates (paired by public\n"
		"key), certificates without a key, and the CA certificates stored beside them.\n"
		"For each key: label, id, URI, type and size, exportable or not; for each\n"
		"certificate: subject, SANs, issuer, notAfter, days left, SHA-1 (the Windows\n"
		"thumbprint) and SHA-256 thumbprints. Status: pending (a key without a\n"
		"certificate yet), valid, expiring, expired, not_yet_valid, orphan (a\n"
		"certificate without its key).\n\n"
		"  --warn-days N            a certificate ending within N days is expiring\n"
		"                           (default %d)\n"
		"  --expiring DAYS          for monitoring: list only the certificates with\n"
		"                           fewer than DAYS days left, expired included (each\n"
		"                           key's newest certificate, and the CA certificates\n"
		"                           on the token); exit 1 when there is any\n\n"
		"Exit status: 0 listed (with --expiring: none expiring); 1 with --expiring,\n"
		"a certificate has fewer than DAYS days left; 2 usage; 3 token error or wrong\n"
		"PIN; 4 I/O.\n\n" CLI_GLOBAL_USAGE,
		HC_LIST_WARN_DAYS);
	return 0;
}

static const char *exportable_text(int extractable)
{
	return extractable < 0 ? "exportable: unknown"
	       : extractable   ? "exportable"
			       : "not exportable";
}

/* A string made for the document (NULL: out of memory, shown as null), then freed. */
static json_t *owned_string(char *s)
{
	json_t *j = cli_json_string(s);

	free(s);
	return j;
}

static char *key_uri(const hc_listing *l, const hc_key_info *k)
{
	return hc_inventory_uri(&l->inventory, k->cls, k->label, k->id, k->id_len);
}

static json_t *json_cert(const hc_listing *l, const hc_list_cert *c)
{
	const hc_inv_cert *o = c->object;
	char *id = hc_hex_encode(o->id ? o->id : (const unsigned char *)"", o->id_len);
	json_t *j = c->readable ? cli_json_cert(&c->info, l->now) : json_object();

	json_object_set_new(j, "label", cli_json_text(o->label ? o->label : ""));
	json_object_set_new(j, "id", cli_json_string(id));
	json_object_set_new(j, "uri",
			    owned_string(hc_inventory_uri(&l->inventory, CKO_CERTIFICATE, o->label,
							  o->id, o->id_len)));
	json_object_set_new(j, "category",
			    o->category == CK_UNAVAILABLE_INFORMATION
				    ? json_null()
				    : json_string(hc_cert_category_name(o->category)));
	json_object_set_new(j, "status", json_string(hc_cert_status_name(c->status)));
	json_object_set_new(j, "readable", json_boolean(c->readable));
	if (o->match != HC_INV_MATCH_NONE)
		json_object_set_new(j, "paired_by", json_string(hc_inv_match_name(o->match)));
	free(id);
	return j;
}

static json_t *json_certs(const hc_listing *l, const hc_list_cert *certs, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_cert(l, &certs[i]));
	return a;
}

static json_t *json_listing(const struct cli_token *t, const hc_listing *l)
{
	json_t *keys = json_array(), *counts = json_object();
	char now[21];

	for (size_t i = 0; i < l->key_count; i++) {
		const hc_list_key *k = &l->keys[i];
		const hc_key_info *info = &k->key->info, *pub = k->public_key;
		json_t *j = cli_json_key(info);
		json_object_set_new(j, "uri", owned_string(key_uri(l, info)));
		json_object_set_new(j, "exportable", cli_json_tristate(info->extractable));
		json_object_set_new(j, "status", json_string(hc_cert_status_name(k->status)));
		json_object_set_new(j, "public_uri",
				    pub ? owned_string(key_uri(l, pub)) : json_null());
		json_object_set_new(j, "certificates", json_certs(l, k->certs, k->cert_count));
		json_array_append_new(keys, j);
	}
	for (int s = 0; s <= HC_STATUS_ORPHAN; s++)
		json_object_set_new(counts, hc_cert_status_name(s),
				    json_integer((json_int_t)l->status_counts[s]));
	hc_time_iso8601(l->now, now);
	return json_pack("{s:o, s:s, s:i, s:o, s:o, s:o, s:o, s:o}", "token", cli_json_token(t),
			 "now", now, "warn_days", l->warn_days, "counts", counts, "keys", keys,
			 "orphans", json_certs(l, l->orphans, l->orphan_count), "authorities",
			 json_certs(l, l->authorities, l->authority_count), "unreadable_objects",
			 cli_json_unreadable(&l->inventory));
}

static void print_cert(const hc_listing *l, const hc_list_cert *c, const char *heading)
{
	char *uri;

	printf("  %s [%s]%s\n", heading, hc_cert_status_name(c->status),
	       c->readable ? "" : ": the stored value is not a readable certificate");
	if (c->readable)
		cli_print_cert(&c->info, l->now, 4);
	uri = hc_inventory_uri(&l->inventory, CKO_CERTIFICATE, c->object->label, c->object->id,
			       c->object->id_len);
	printf("    %-20s%s\n", "URI", uri ? uri : "(out of memory)");
	free(uri);
}

static void print_listing(const struct cli_token *t, const hc_listing *l)
{
	printf("Token '%s': %zu key%s (%zu valid, %zu expiring, %zu expired, %zu pending), "
	       "%zu orphan certificate%s, %zu CA certificate%s\n",
	       cli_text(t->label), l->key_count, l->key_count == 1 ? "" : "s",
	       l->status_counts[HC_STATUS_VALID], l->status_counts[HC_STATUS_EXPIRING],
	       l->status_counts[HC_STATUS_EXPIRED], l->status_counts[HC_STATUS_PENDING],
	       l->orphan_count, l->orphan_count == 1 ? "" : "s", l->authority_count,
	       l->authority_count == 1 ? "" : "s");
	for (size_t i = 0; i < l->key_count; i++) {
		const hc_list_key *k = &l->keys[i];
		const hc_key_info *info = &k->key->info;
		char type[32];
		char *id = hc_hex_encode(info->id ? info->id : (const unsigned char *)"",
					 info->id_len);
		char *uri = key_uri(l, info);

		hc_keytype_format(&info->type, type, sizeof(type));
		printf("\n%s  %s, %s  [%s]\n",
		       info->label[0] ? cli_text(info->label) : "(no label)", type,
		       exportable_text(info->extractable), hc_cert_status_name(k->status));
		printf("  %-20s%s\n", "ID", id ? id : "");
		printf("  %-20s%s\n", "Key URI", uri ? uri : "(out of memory)");
		free(uri);
		for (size_t j = 0; j < k->cert_count; j++)
			print_cert(l, &k->certs[j], j == 0 ? "Certificate" : "Older certificate");
		free(id);
	}
	if (l->orphan_count)
		printf("\nCertificates without their key on the token:\n");
	for (size_t i = 0; i < l->orphan_count; i++)
		print_cert(l, &l->orphans[i], "Orphan");
	if (l->authority_count)
		printf("\nCA certificates:\n");
	for (size_t i = 0; i < l->authority_count; i++)
		print_cert(l, &l->authorities[i], "CA");
	cli_print_unreadable(&l->inventory);
}

/* ---- --expiring: the certificates that need attention, for monitoring ---- */

struct expiring {
	const hc_list_cert *cert;
	const hc_key_info *key; /* NULL for a CA certificate */
};

/*
 * The certificates in service with fewer than `days` days left: each key's
 * newest certificate (older ones are superseded) and the CA certificates.
 */
static size_t collect_expiring(const hc_listing *l, long days, struct expiring *out)
{
	size_t n = 0;

	for (size_t i = 0; i < l->key_count; i++) {
		const hc_list_key *k = &l->keys[i];
		if (k->cert_count && k->certs[0].readable && k->certs[0].days_left < days)
			out[n++] = (struct expiring){&k->certs[0], &k->key->info};
	}
	for (size_t i = 0; i < l->authority_count; i++)
		if (l->authorities[i].readable && l->authorities[i].days_left < days)
			out[n++] = (struct expiring){&l->authorities[i], NULL};
	return n;
}

static int report_expiring(const struct cli *cli, const struct cli_token *t, const hc_listing *l,
			   long days)
{
	struct expiring *e = calloc(l->key_count + l->authority_count + 1, sizeof(*e));
	size_t n;
	int r = 0;

	if (!e) {
		cli_errorf(cli, "out of memory");
		return HC_IO;
	}
	n = collect_expiring(l, days, e);
	if (cli->json) {
		json_t *list = json_array();
		char now[21];
		for (size_t i = 0; i < n; i++) {
			json_t *j = json_cert(l, e[i].cert);
			json_object_set_new(j, "role", json_string(e[i].key ? "key" : "authority"));
			json_object_set_new(j, "key_uri",
					    e[i].key ? owned_string(key_uri(l, e[i].key))
						     : json_null());
			json_array_append_new(list, j);
		}
		hc_time_iso8601(l->now, now);
		r = cli_json_emit(json_pack("{s:o, s:s, s:I, s:I, s:o}", "token", cli_json_token(t),
					    "now", now, "expiring_days", (json_int_t)days, "count",
					    (json_int_t)n, "certificates", list));
	} else if (n == 0) {
		printf("Token '%s': no certificate has fewer than %ld days left\n", t->label, days);
	} else {
		printf("Token '%s': %zu certificate%s with fewer than %ld days left\n", t->label, n,
		       n == 1 ? "" : "s", days);
		printf("%-9s  %-20s  %-9s  %s\n", "DAYS", "NOT AFTER", "ROLE", "SUBJECT / URI");
		for (size_t i = 0; i < n; i++) {
			const hc_list_cert *c = e[i].cert;
			char not_after[21];
			char *uri = e[i].key ? key_uri(l, e[i].key)
					     : hc_inventory_uri(&l->inventory, CKO_CERTIFICATE,
								c->object->label, c->object->id,
								c->object->id_len);
			hc_time_iso8601(c->info.not_after, not_after);
			printf("%-9ld  %-20s  %-9s  %s\n%-9s  %-20s  %-9s  %s\n", c->days_left,
			       not_after, e[i].key ? "key" : "CA", c->info.subject, "", "", "",
			       uri ? uri : "(out of memory)");
			free(uri);
		}
	}
	free(e);
	if (r == 0 && fflush(stdout) != 0)
		r = HC_IO;
	return r == 0 && n ? HC_CHECK : r;
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"warn-days", required_argument, NULL, OPT_WARN_DAYS},
		{"expiring", required_argument, NULL, OPT_EXPIRING},
		CLI_GLOBAL_OPTIONS};
	int warn_days = HC_LIST_WARN_DAYS;
	long expiring = -1;
	hc_listing listing = {0};
	struct cli_token t = {0};
	hc_error err = {0};
	long v;
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT, options, NULL)) != -1) {
		switch (c) {
		case OPT_WARN_DAYS:
			if ((r = cli_days_option(cli, "--warn-days", optarg, &v)) != CLI_NEXT)
				return r;
			warn_days = (int)v;
			break;
		case OPT_EXPIRING:
			if ((r = cli_days_option(cli, "--expiring", optarg, &expiring)) != CLI_NEXT)
				return r;
			break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_list)) != CLI_NEXT)
				return r;
		}
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		return r;
	if (cli_token_open(cli, NULL, CLI_TOKEN_LOGIN | CLI_TOKEN_ONE_THREAD, &t, &err) != HC_OK ||
	    hc_listing_load(t.session, time(NULL), warn_days, &listing, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (expiring >= 0) {
		r = report_expiring(cli, &t, &listing, expiring);
	} else if (cli->json) {
		r = cli_json_emit(json_listing(&t, &listing));
	} else {
		print_listing(&t, &listing);
		r = fflush(stdout) == 0 ? 0 : HC_IO;
	}
out:
	hc_listing_clear(&listing);
	cli_token_close(&t);
	return r;
}
