# shellcheck shell=bash disable=SC2154 # $hsmcert, $pin, $data, step: set by scripts/demo.sh
# Stage: "Complete Pending Request" and prove the deployment: import the
# certificate next to its key with the chain of stage 40, list the token, and
# check it with a real TLS handshake whose server signs with the token key.
demo_pki="$data/testpki"
# The chain of stage 40 carries the cross certificate, so a client that trusts
# only the older root verifies; without it, the Sub CA alone and Root CA 3.
demo_chain="$data/web-chain.pem" demo_roots="$demo_pki/roots-old" demo_trust="the older root"
if [ ! -s "$demo_chain" ]; then
	demo_chain="$demo_pki/downloads/sub.p7b" demo_roots="$demo_pki/roots-new"
	demo_trust="Root CA 3"
fi

step "Complete the pending request: the certificate goes next to its key (found by public key), the CA certificates beside it, older ones replaced" \
	"hsmcert import --cert web.crt --chain $(basename "$demo_chain") --replace"
"$hsmcert" import --cert "$data/web.crt" --chain "$demo_chain" --replace "$pin"

step "Importing the same certificate again changes nothing" \
	"hsmcert import --cert web.crt"
"$hsmcert" import --cert "$data/web.crt" "$pin" | head -1

step "The token's inventory: keys with their certificates, thumbprints and status" \
	"hsmcert list"
"$hsmcert" list "$pin"

step "Proof that it works: the key signs in the token, the chain verifies, and a TLS handshake with the token key (through libp11) is verified by a client that trusts only $demo_trust" \
	"hsmcert check --key 'pkcs11:object=web' --roots $(basename "$demo_roots") --tls"
"$hsmcert" check --key 'pkcs11:object=web' --roots "$demo_roots" --tls "$pin"

step "What a server that forgot its intermediate would get" \
	"hsmcert check --key 'pkcs11:object=web' --chain root3-cross.crt --roots $(basename "$demo_roots") --tls"
"$hsmcert" check --key 'pkcs11:object=web' --chain "$demo_pki/root3-cross.crt" \
	--roots "$demo_roots" --tls "$pin" || echo "(exit $? — the handshake fails like a client would)"
