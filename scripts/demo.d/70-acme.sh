# shellcheck shell=bash disable=SC2154 # $hsmcert, $pin, $data, $root, step: set by scripts/demo.sh
# Stage: hands-free enrolment and renewal over ACME against a local step-ca
# (built from Debian's Go sources by scripts/stepca.sh, when it can be), with
# the certificate's key and the ACME account key on the token. http-01 is
# answered on port 80, so the stage needs root; it is skipped otherwise.
demo_ca="$data/acme-ca"
demo_stepca="$root/build/stepca/step-ca"
if [ "$(id -u)" != 0 ]; then
	step "ACME enrolment skipped: http-01 answers on port 80, which needs root"
elif ! "$root/scripts/stepca.sh" build "$demo_stepca" 2>/dev/null; then
	step "ACME enrolment skipped: step-ca cannot be built here (golang-go and golang-github-smallstep-certificates-dev)"
else
	# A throw-away CA for the demo, made once; a free port each run.
	demo_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	if [ ! -f "$demo_ca/ca.json" ]; then
		"$root/scripts/stepca.sh" config "$demo_ca" "$demo_port" 24h
	fi
	sed -i "s/\"127.0.0.1:[0-9]*\"/\"127.0.0.1:$demo_port\"/" "$demo_ca/ca.json"
	"$root/scripts/stepca.sh" start "$demo_stepca" "$demo_ca"
	trap '"$root/scripts/stepca.sh" stop "$demo_ca"' EXIT
	demo_acme="https://127.0.0.1:$demo_port/acme/acme/directory"

	step "Enrol over ACME: a new EC key on the token, the CSR and every JWS signed there, http-01 answered on port 80 for the order's time, the chain verified and stored" \
		"hsmcert enroll --acme $demo_acme --acme-roots root.crt --label web-acme --if-missing --type ec:P-256 --cn localhost -o web-acme-chain.pem --force"
	"$hsmcert" enroll --acme "$demo_acme" --acme-roots "$demo_ca/root.crt" \
		--label web-acme --if-missing --type ec:P-256 --cn localhost \
		-o "$data/web-acme-chain.pem" --force "$pin" | grep -v '^  [a-z_]* *\(yes\|no\|CKM_.*\)$'

	step "Renew from a timer: nothing is due yet, so nothing changes and the CA is not contacted" \
		"hsmcert renew --all --acme $demo_acme --acme-roots root.crt"
	"$hsmcert" renew --all --acme "$demo_acme" --acme-roots "$demo_ca/root.crt" "$pin"

	step "Renew now (fewer than 2 days left counts as due): a new key takes over the label 'web-acme', the old one is kept as retired" \
		"hsmcert renew --key 'pkcs11:object=web-acme' --days 2 --acme $demo_acme --acme-roots root.crt"
	"$hsmcert" renew --key 'pkcs11:object=web-acme;type=private' --days 2 --acme "$demo_acme" \
		--acme-roots "$demo_ca/root.crt" "$pin" | grep -v '^    [a-z_]* *\(yes\|no\|CKM_.*\)$'

	"$root/scripts/stepca.sh" stop "$demo_ca"
	trap - EXIT
fi
