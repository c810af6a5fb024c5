# shellcheck shell=bash disable=SC2154,SC2317 # $root etc. set by scripts/bench.sh; functions are run by name
# chain: path building over a pool of 5,000 CA certificates, against
# `openssl verify -untrusted POOL` on the same input (same leaf, same roots).
# The pool (4,994 unrelated CA certificates plus the test PKI's downloads) is
# generated once by a small C program and cached in build-bench/chain-pool.

chain_pool_generator() {
	cat <<'C'
/* Writes N CA certificates, "Pool CA i" under 50 made-up issuers, as PEM. */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int n = atoi(argv[1]);
	EVP_PKEY *key = EVP_EC_gen("P-256");
	FILE *out = fopen(argv[2], "w");
	char cn[64];

	if (!key || !out)
		return 1;
	for (int i = 0; i < n; i++) {
		X509 *c = X509_new();
		X509_NAME *subject = X509_NAME_new(), *issuer = X509_NAME_new();
		X509_EXTENSION *bc;
		X509V3_CTX ctx;

		snprintf(cn, sizeof(cn), "Pool CA %d", i);
		X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC, (unsigned char *)"Bench", -1, -1, 0);
		X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0);
		snprintf(cn, sizeof(cn), "Pool Root %d", i % 50);
		X509_NAME_add_entry_by_txt(issuer, "O", MBSTRING_ASC, (unsigned char *)"Bench", -1, -1, 0);
		X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0);
		X509_set_version(c, 2);
		ASN1_INTEGER_set(X509_get_serialNumber(c), 100000 + i);
		X509_set_subject_name(c, subject);
		X509_set_issuer_name(c, issuer);
		X509_gmtime_adj(X509_getm_notBefore(c), -86400);
		X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 3650);
		X509_set_pubkey(c, key);
		X509V3_set_ctx(&ctx, c, c, NULL, NULL, 0);
		bc = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		X509_add_ext(c, bc, -1);
		X509_EXTENSION_free(bc);
		bc = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
		X509_add_ext(c, bc, -1);
		X509_EXTENSION_free(bc);
		X509_sign(c, key, EVP_sha256());
		PEM_write_X509(out, c);
		X509_NAME_free(subject);
		X509_NAME_free(issuer);
		X509_free(c);
	}
	return fclose(out) != 0;
}
C
}

bench_chain() {
	local dir="$root/build-bench/chain-pool" pki
	pki="$dir/pki"
	mkdir -p "$dir"
	"$root/scripts/testpki.sh" build "$pki" 8080
	# Rebuilt when the PKI was (its downloads are part of the pool).
	if [ ! -s "$dir/pool.pem" ] || [ "$pki/.built" -nt "$dir/pool.pem" ]; then
		chain_pool_generator >"$dir/gen.c"
		# shellcheck disable=SC2046 # pkg-config's flags are words
		cc -O2 -o "$dir/gen" "$dir/gen.c" $(pkg-config --cflags --libs libcrypto)
		"$dir/gen" 4994 "$dir/pool.tmp"
		# The real issuers sit among the rest, in the formats they were downloaded in.
		for f in "$pki"/downloads/*; do
			openssl x509 -in "$f" 2>/dev/null >>"$dir/pool.tmp" ||
				openssl x509 -inform DER -in "$f" 2>/dev/null >>"$dir/pool.tmp" ||
				openssl pkcs7 -print_certs -in "$f" 2>/dev/null |
				sed -n '/BEGIN/,/END/p' >>"$dir/pool.tmp" || true
		done
		mv "$dir/pool.tmp" "$dir/pool.pem"
	fi
	local n
	n=$(grep -c 'BEGIN CERTIFICATE' "$dir/pool.pem")
	"$HSMCERT" chain --cert "$pki/leaf.crt" --intermediates "$dir/pool.pem" \
		--roots "$pki/roots-new" -o "$dir/chain.pem" --force >/dev/null
	openssl verify -CAfile "$pki/root3.crt" -untrusted "$dir/chain.pem" "$pki/leaf.crt" >/dev/null
	chain_hsmcert() {
		"$HSMCERT" chain --cert "$pki/leaf.crt" --intermediates "$dir/pool.pem" \
			--roots "$pki/roots-new"
	}
	chain_openssl() {
		openssl verify -CAfile "$pki/root3.crt" -untrusted "$dir/pool.pem" "$pki/leaf.crt"
	}
	local t ours theirs
	mapfile -t t < <(interleaved_ms 11 chain_hsmcert chain_openssl)
	ours=${t[0]} theirs=${t[1]}
	echo "pool of $n certificates: hsmcert chain ${ours} ms, openssl verify -untrusted" \
		"${theirs} ms, ratio $(ratio "$ours" "$theirs")"
}
