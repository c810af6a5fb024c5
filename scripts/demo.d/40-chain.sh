# shellcheck shell=bash disable=SC2154 # $hsmcert, $pin, $data, step: set by scripts/demo.sh
# Stage: chain. From the files a user downloads from the CA's site (Sub CA as
# PKCS#7, the old Sub CA they forgot to delete, the cross certificate as DER,
# an ARL...) to the chain the server must send, verified by openssl against
# the new root and against the older root that more clients trust.
#
# The test CA lives in $data/testpki (scripts/testpki.sh); an earlier stage
# may have had it issue $data/web.crt for the token's key, else its own
# sample leaf is chained.
demo_pki="$data/testpki"
"$root/scripts/testpki.sh" build "$demo_pki" 8080
demo_leaf="$data/web.crt"
[ -s "$demo_leaf" ] || demo_leaf="$demo_pki/leaf.crt"
rm -rf "$data/downloads"
cp -r "$demo_pki/downloads" "$data/downloads"

step "What was downloaded from the CA (formats mixed: PEM, DER, PKCS#7, an ARL)" \
	"ls $data/downloads"
ls -l "$data/downloads"

step "Assemble and verify the chain the server sends" \
	"hsmcert chain --cert $(basename "$demo_leaf") --intermediates downloads --roots roots-both -o web-chain.pem"
"$hsmcert" chain --cert "$demo_leaf" --intermediates "$data/downloads" \
	--roots "$demo_pki/roots-both" -o "$data/web-chain.pem" --force

step "A client that trusts Root CA 3 accepts it" \
	"openssl verify -CAfile root3.crt -untrusted web-chain.pem $(basename "$demo_leaf")"
openssl verify -CAfile "$demo_pki/root3.crt" -untrusted "$data/web-chain.pem" "$demo_leaf"

step "A client that trusts only the older Global Root accepts it too (the cross certificate)" \
	"openssl verify -CAfile root1.crt -untrusted web-chain.pem $(basename "$demo_leaf")"
openssl verify -CAfile "$demo_pki/root1.crt" -untrusted "$data/web-chain.pem" "$demo_leaf"

step "The same chain as a PKCS#7 bundle (.p7b), as Windows and Exchange import it" \
	"hsmcert chain ... --format p7b -o web-chain.p7b; openssl pkcs7 -print_certs"
"$hsmcert" chain --cert "$demo_leaf" --intermediates "$data/downloads" \
	--roots "$demo_pki/root3.crt" -o "$data/web-chain.p7b" --format p7b --force >/dev/null
openssl pkcs7 -inform DER -in "$data/web-chain.p7b" -print_certs -noout | grep subject=
