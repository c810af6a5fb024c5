/*
 * The token inventory: keys paired with certificates by key (not by id or
 * label), orphans, the CKA_ID fallback. Objects are made with hsmcert keygen
 * and stored with pkcs11-tool, then read through the library.
 */
#include "support.h"

#include "hsmcert/inventory.h"

#include <stdlib.h>
#include <string.h>

TestSuite(inventory, .init = ts_setup_token, .fini = ts_teardown);

static void load_with(hc_inventory *inv, unsigned module_flags)
{
	hc_module *mod = NULL;
	hc_session *session = NULL;
	hc_secret *pin = hc_secret_new(TS_PIN, strlen(TS_PIN));
	hc_uri *uri = NULL;
	hc_slot slot;
	hc_error err = {0};

	cr_assert_eq(hc_uri_parse("pkcs11:token=" TS_TOKEN, &uri, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_module_open(TS_SOFTHSM, module_flags, &mod, &err), HC_OK, "%s",
		     err.message);
	cr_assert_eq(hc_token_select(mod, uri, &slot, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_session_open(mod, &slot, false, &session, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_session_login(session, CKU_USER, pin, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_inventory_load(session, inv, &err), HC_OK, "%s", err.message);
	hc_secret_free(pin);
	hc_session_close(session);
	hc_module_close(mod);
	hc_uri_free(uri);
}

static void load(hc_inventory *inv)
{
	load_with(inv, 0);
}

static size_t key_index(const hc_inventory *inv, const char *label)
{
	for (size_t i = 0; i < inv->key_count; i++)
		if (strcmp(inv->keys[i].info.label, label) == 0)
			return i;
	cr_assert_fail("no private key '%s' in the inventory", label);
	return HC_INV_NONE;
}

static const hc_inv_cert *cert_named(const hc_inventory *inv, const char *label)
{
	for (size_t i = 0; i < inv->cert_count; i++)
		if (strcmp(inv->certs[i].label, label) == 0)
			return &inv->certs[i];
	cr_assert_fail("no certificate '%s' in the inventory", label);
	return NULL;
}

static void keygen(const char *args)
{
	struct ts_result r;
	ts_run(&r, "$HSMCERT keygen %s", args);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

/* The key's CKA_ID as pkcs11-tool prints it. */
static char *key_id(const char *label)
{
	char *id = ts_sh("pkcs11-tool --module %s --token-label %s --login --pin %s --list-objects "
			 "--type privkey --label %s 2>/dev/null | awk '/ID:/{printf \"%%s\", $2}'",
			 TS_SOFTHSM, TS_TOKEN, TS_PIN, label);
	cr_assert(strlen(id) > 0);
	return id;
}

Test(inventory, empty_token)
{
	hc_inventory inv;

	load(&inv);
	cr_assert_eq(inv.key_count, 0);
	cr_assert_eq(inv.public_count, 0);
	cr_assert_eq(inv.secret_count, 0);
	cr_assert_eq(inv.cert_count, 0);
	cr_assert_eq(inv.orphan_count, 0);
	hc_inventory_clear(&inv);
}

Test(inventory, certificate_with_the_key_id_pairs_by_key)
{
	hc_inventory inv;
	char *id, *uri;
	size_t k;
	const hc_inv_cert *c;

	keygen("--label web");
	keygen("--label other");
	id = key_id("web");
	ts_store_cert("web", id, "web-cert", "www.example.hk", 365);
	load(&inv);
	cr_assert_eq(inv.key_count, 2);
	cr_assert_eq(inv.public_count, 2);
	cr_assert_eq(inv.cert_count, 1);
	k = key_index(&inv, "web");
	c = cert_named(&inv, "web-cert");
	cr_assert_eq(c->key, k);
	cr_assert_eq(c->match, HC_INV_MATCH_KEY);
	cr_assert_eq(inv.keys[k].cert_count, 1);
	cr_assert_eq(&inv.certs[inv.keys[k].certs[0]], c);
	cr_assert(inv.keys[k].has_public_half);
	cr_assert_neq(inv.keys[k].public_key, HC_INV_NONE);
	cr_assert_str_eq(inv.public_keys[inv.keys[k].public_key].label, "web");
	cr_assert_eq(inv.keys[key_index(&inv, "other")].cert_count, 0);
	cr_assert_not_null(c->x509);
	uri = hc_inventory_uri(&inv, CKO_CERTIFICATE, c->label, c->id, c->id_len);
	cr_assert(uri && strstr(uri, "object=web-cert;type=cert"), "%s", uri);
	cr_assert_null(inv.keys[k].info.uri, "the inventory keeps no URIs");
	free(uri);
	cr_assert_eq(inv.orphan_count, 0);
	hc_inventory_clear(&inv);
	free(id);
}

Test(inventory, pairs_by_key_when_the_id_differs)
{
	hc_inventory inv;
	const hc_inv_cert *c;
	size_t rsa, ec;

	keygen("--label rsa");
	keygen("--label ec --type ec:P-256");
	keygen("--label decoy --id 0a0b");
	/* Stored under another key's id: the public key decides, not CKA_ID. */
	ts_store_cert("rsa", "0a0b", "rsa-cert", "rsa.example.hk", 365);
	ts_store_cert("ec", "ffee", "ec-cert", "ec.example.hk", 365);
	load(&inv);
	rsa = key_index(&inv, "rsa");
	ec = key_index(&inv, "ec");
	c = cert_named(&inv, "rsa-cert");
	cr_assert_eq(c->key, rsa);
	cr_assert_eq(c->match, HC_INV_MATCH_KEY);
	/* EC private keys carry no point: it came from the public key object. */
	c = cert_named(&inv, "ec-cert");
	cr_assert_eq(c->key, ec);
	cr_assert_eq(c->match, HC_INV_MATCH_KEY);
	cr_assert_eq(inv.keys[key_index(&inv, "decoy")].cert_count, 0);
	hc_inventory_clear(&inv);
}

Test(inventory, certificate_without_its_key_is_an_orphan)
{
	hc_inventory inv;
	char *id;
	const hc_inv_cert *c;

	keygen("--label web");
	id = key_id("web");
	/* Same CKA_ID as the key, but another public key: still an orphan. */
	ts_store_cert(NULL, id, "stray", "stray.example.hk", 365);
	ts_store_cert(NULL, "99", "gone", "gone.example.hk", 365);
	load(&inv);
	cr_assert_eq(inv.cert_count, 2);
	cr_assert_eq(inv.orphan_count, 2);
	c = cert_named(&inv, "stray");
	cr_assert_eq(c->key, HC_INV_NONE);
	cr_assert_eq(c->match, HC_INV_MATCH_NONE);
	cr_assert_eq(inv.keys[key_index(&inv, "web")].cert_count, 0);
	hc_inventory_clear(&inv);
	free(id);
}

Test(inventory, falls_back_to_the_id_without_a_public_half)
{
	hc_inventory inv;
	struct ts_result r;
	size_t k;
	const hc_inv_cert *c;

	keygen("--label ec --type ec:P-256 --id c0ffee");
	ts_store_cert("ec", "c0ffee", "ec-cert", "ec.example.hk", 365);
	/* Without its public key object the EC private key has no point to compare. */
	ts_run(&r,
	       "pkcs11-tool --module %s --token-label %s --login --pin %s --delete-object "
	       "--type pubkey --id c0ffee",
	       TS_SOFTHSM, TS_TOKEN, TS_PIN);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	load(&inv);
	cr_assert_eq(inv.public_count, 0);
	k = key_index(&inv, "ec");
	cr_assert_not(inv.keys[k].has_public_half);
	c = cert_named(&inv, "ec-cert");
	cr_assert_eq(c->key, k);
	cr_assert_eq(c->match, HC_INV_MATCH_ID);
	cr_assert_str_eq(hc_inv_match_name(c->match), "id");
	hc_inventory_clear(&inv);
}

Test(inventory, several_certificates_of_one_key)
{
	hc_inventory inv;
	size_t k;

	keygen("--label web");
	ts_store_cert("web", "01", "old", "www.example.hk", 10);
	ts_store_cert("web", "02", "new", "www.example.hk", 365);
	load(&inv);
	k = key_index(&inv, "web");
	cr_assert_eq(inv.keys[k].cert_count, 2);
	cr_assert_eq(inv.certs[inv.keys[k].certs[0]].key, k);
	cr_assert_eq(inv.certs[inv.keys[k].certs[1]].key, k);
	cr_assert_neq(inv.keys[k].certs[0], inv.keys[k].certs[1]);
	cr_assert_eq(inv.orphan_count, 0);
	hc_inventory_clear(&inv);
}

/*
 * A module opened for one thread (no locking) reads the same inventory, is
 * finalised when closed (so it opens again, either way), and leaves the
 * token as it was.
 */
Test(inventory, one_thread_module_reads_the_same)
{
	hc_inventory managed, raw;

	keygen("--label web");
	keygen("--label ec --type ec:P-256");
	load(&managed);
	for (int round = 0; round < 2; round++) {
		load_with(&raw, HC_MODULE_ONE_THREAD);
		cr_assert_eq(raw.key_count, managed.key_count);
		cr_assert_eq(raw.public_count, managed.public_count);
		for (size_t i = 0; i < raw.key_count; i++) {
			size_t k = key_index(&managed, raw.keys[i].info.label);
			cr_assert_eq(raw.keys[i].info.type.ckk, managed.keys[k].info.type.ckk);
			cr_assert_eq(raw.keys[i].info.sensitive, managed.keys[k].info.sensitive);
			cr_assert_eq(raw.keys[i].has_public_half, managed.keys[k].has_public_half);
		}
		hc_inventory_clear(&raw);
	}
	hc_inventory_clear(&managed);
	load(&managed);
	cr_assert_eq(managed.key_count, 2);
	hc_inventory_clear(&managed);
}
