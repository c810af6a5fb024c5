# shellcheck shell=bash disable=SC2154 # $hsmcert, $pin, $data, step: set by scripts/demo.sh
# Stage 60: backup and restore. A key the security officer made exportable
# (Exchange's "PrivateKeyExportable") leaves the token only wrapped: backed up
# under a passphrase, restored into a second token, and proved there to sign
# for the same certificate, by hsmcert and again by pkcs11-tool + openssl.
bk_label=web-exportable
bk_token=hsmcert-demo-restore
bk_cert="$data/$bk_label.crt"
umask 077
[ -s "$data/backup-passphrase" ] || openssl rand -base64 24 >"$data/backup-passphrase"
umask 022
bk_pass="--passphrase-source=file:$data/backup-passphrase"

step "An exportable key for the backup demo (still sensitive: it leaves only wrapped)" \
	"hsmcert keygen --label $bk_label --exportable --if-missing"
"$hsmcert" keygen --label "$bk_label" --exportable --if-missing "$pin"

# Its certificate, from the demo CA (scripts/testpki.sh), stored beside the key
# with the Sub CA, so the backup carries a chain.
"$root/scripts/testpki.sh" build "$data/testpki" 8080 >/dev/null
if [ ! -s "$bk_cert" ]; then
	"$hsmcert" csr --key "pkcs11:object=$bk_label" --cn backup.example.test \
		-o "$data/$bk_label.csr" --force "$pin" >/dev/null
	"$root/scripts/testpki.sh" sign "$data/testpki" "$data/$bk_label.csr" "$bk_cert"
fi
"$hsmcert" import --cert "$bk_cert" --chain "$data/testpki/sub.crt" "$pin" >/dev/null

step "Back up the key: wrapped inside the token (RFC 5649) under a passphrase key (scrypt)" \
	"hsmcert backup --key pkcs11:object=$bk_label -o $bk_label.hsmb"
"$hsmcert" backup --key "pkcs11:object=$bk_label" -o "$data/$bk_label.hsmb" --force "$pin" "$bk_pass"

step "The non-exportable key cannot be backed up (exit 1, with the reason)" \
	"hsmcert backup --key pkcs11:object=web -o web.hsmb"
"$hsmcert" backup --key "pkcs11:object=web" -o "$data/web.hsmb" --force "$pin" "$bk_pass" ||
	echo "(refused: exit $?)"

if ! env -u HSMCERT_TOKEN "$hsmcert" tokens --json | grep "\"label\": \"$bk_token\"" >/dev/null; then
	step "A second token to restore into (first run)" "hsmcert init-token --free --label $bk_token"
	"$hsmcert" init-token --free --label "$bk_token" --so-pin-source "file:$data/so-pin" "$pin"
fi
step "Restore into the second token: unwrapped there, certificate beside it, test signature" \
	"hsmcert --token pkcs11:token=$bk_token restore $bk_label.hsmb --force"
"$hsmcert" --token "pkcs11:token=$bk_token" restore "$data/$bk_label.hsmb" --force "$pin" "$bk_pass"

step "Independent proof: pkcs11-tool signs with the restored key, openssl verifies with the certificate" \
	"pkcs11-tool --sign ... | openssl dgst -sha256 -verify <(openssl x509 -pubkey ...)"
date -u +"restored-key challenge %FT%TZ" >"$data/challenge.txt"
pkcs11-tool --module "$HSMCERT_MODULE" --token-label "$bk_token" --login \
	--pin "$(cat "$data/user-pin")" --sign --mechanism SHA256-RSA-PKCS --label "$bk_label" \
	-i "$data/challenge.txt" -o "$data/challenge.sig" 2>/dev/null
openssl x509 -in "$bk_cert" -pubkey -noout >"$data/$bk_label.pub.pem"
openssl dgst -sha256 -verify "$data/$bk_label.pub.pem" -signature "$data/challenge.sig" \
	"$data/challenge.txt"

step "For Windows/Exchange: a PKCS#12 (AES-256-CBC, PBKDF2-SHA256, SHA-256 MAC)" \
	"hsmcert backup --key pkcs11:object=$bk_label -o $bk_label.pfx; openssl pkcs12 -info"
"$hsmcert" backup --key "pkcs11:object=$bk_label" -o "$data/$bk_label.pfx" --force "$pin" "$bk_pass"
openssl pkcs12 -info -noout -in "$data/$bk_label.pfx" \
	-passin "file:$data/backup-passphrase" 2>&1 | grep -E "MAC:|Shrouded Keybag"
