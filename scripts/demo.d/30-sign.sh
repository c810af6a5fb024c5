# shellcheck shell=bash disable=SC2154 # $hsmcert, $pin, $data, step: set by scripts/demo.sh
# Stage: the CA issues the certificate for the request of stage 20, as a real
# CA does once web.csr is submitted. Here the test CA of scripts/testpki.sh
# (kept in $data/testpki) signs it; the chain and import stages use web.crt.
demo_pki="$data/testpki"
"$root/scripts/testpki.sh" build "$demo_pki" 8080
if [ ! -s "$data/web.csr" ]; then
	"$hsmcert" csr --key 'pkcs11:object=web' "$pin" --cn www.example.hk -o "$data/web.csr" \
		--force
fi

step "The CA signs the request (here the test CA; a real one returns the same kind of file)" \
	"testpki.sh sign testpki web.csr web.crt"
"$root/scripts/testpki.sh" sign "$demo_pki" "$data/web.csr" "$data/web.crt"
openssl x509 -in "$data/web.crt" -noout -subject -issuer -enddate -ext subjectAltName \
	-nameopt utf8,sep_comma_plus_space
