# shellcheck shell=bash disable=SC2154 # $hsmcert, $pin, $data, step: set by scripts/demo.sh
# Stage: after a restore on a new server, the certificate and its chain come
# out of the token again (no other tool needed); and the monitoring question
# a cron job asks every night: does anything expire soon?
step "Export the key's certificate with the CA certificates the token holds, leaf first, for the server" \
	"hsmcert export 'pkcs11:object=web' --chain -o web-served.pem --force"
"$hsmcert" export 'pkcs11:object=web' --chain -o "$data/web-served.pem" --force "$pin"

step "Monitoring: certificates with fewer than 30 days left (exit 1 when there is any)" \
	"hsmcert list --expiring 30"
"$hsmcert" list --expiring 30 "$pin" || echo "(exit $? — something to renew)"

step "...and within a year (a demo certificate is short-lived)" \
	"hsmcert list --expiring 400"
"$hsmcert" list --expiring 400 "$pin" || echo "(exit $? — a monitoring check would alert)"
