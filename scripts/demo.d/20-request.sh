# shellcheck shell=bash disable=SC2154 # $hsmcert, $pin, $data, step: set by scripts/demo.sh
# Stage: certificate requests signed inside the token (csr, request, show).
# Sourced by scripts/demo.sh ($hsmcert, $pin, $data, step). Safe to run again.

step "A request for the key 'web', with an internationalised name and the CA/B Forum rules" \
	"hsmcert csr --key 'pkcs11:object=web' --subject 'C=HK,O=My Organization,CN=www.香港郵政.hk' --san www.example.hk --profile cabf -o web.csr --force"
"$hsmcert" csr --key 'pkcs11:object=web' "$pin" \
	--subject 'C=HK,O=My Organization,CN=www.香港郵政.hk' --san www.example.hk \
	--profile cabf -o "$data/web.csr" --force

step "The \"New Exchange Certificate\" wizard in one command: a new key and its request for Hongkong Post" \
	"hsmcert request --label mail --subject 'C=HK,S=\"Hong Kong\",L=\"Hong Kong\",O=\"My Organization\",OU=\"My Organization Unit\",CN=www.myserver.com' --san www.myserver2.com --profile hkpost -o certreq.pem"
"$hsmcert" request --label mail --if-missing "$pin" \
	--subject 'C=HK,S="Hong Kong",L="Hong Kong",O="My Organization",OU="My Organization Unit",CN=www.myserver.com' \
	--san www.myserver2.com --profile hkpost -o "$data/certreq.pem" --force

step "What the security officer checks before submitting it" "hsmcert show certreq.pem"
"$hsmcert" show "$data/certreq.pem"

step "A mistake caught before anything is signed: a URL where a host name belongs" \
	"hsmcert csr --key 'pkcs11:object=web' --cn https://www.myserver.com:443/owa"
"$hsmcert" csr --key 'pkcs11:object=web' "$pin" --cn https://www.myserver.com:443/owa \
	|| echo "(exit $? — nothing was signed or written)"

step "The request as OpenSSL sees it (an independent check)" \
	"openssl req -in certreq.pem -noout -verify -subject"
openssl req -in "$data/certreq.pem" -noout -verify -subject -nameopt utf8,sep_comma_plus_space
