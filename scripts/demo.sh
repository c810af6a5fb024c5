#!/usr/bin/env bash
# The whole lifecycle on an embedded SoftHSM2 token, end to end.
# Installs what is missing, builds, creates the token under
# ${XDG_DATA_HOME:-$HOME/.local/share}/hsmcert/ on first run, and shows each
# step as a security officer would run it. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/deps.sh
scripts/build.sh
hsmcert="$root/build/hsmcert"
# shellcheck source=scripts/softhsm2-module.sh
. scripts/softhsm2-module.sh
softhsm2=$(softhsm2_module)

data=${XDG_DATA_HOME:-$HOME/.local/share}/hsmcert
token_label="hsmcert-demo"
mkdir -p "$data/tokens" && chmod 700 "$data"
if [ ! -f "$data/softhsm2.conf" ]; then
	cat >"$data/softhsm2.conf" <<CONF
directories.tokendir = $data/tokens
objectstore.backend = file
log.level = ERROR
CONF
fi
# PINs for the embedded token: generated once, kept 0600 beside it.
umask 077
[ -s "$data/so-pin" ] || openssl rand -hex 8 >"$data/so-pin"
[ -s "$data/user-pin" ] || openssl rand -hex 4 >"$data/user-pin"
umask 022

export SOFTHSM2_CONF="$data/softhsm2.conf"
export HSMCERT_MODULE=$softhsm2
export HSMCERT_TOKEN="pkcs11:token=$token_label"
pin="--pin-source=file:$data/user-pin" # one word, so "$pin" quotes it

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${2:-}"; }

if ! "$hsmcert" tokens --json | grep -q "\"label\": \"$token_label\""; then
	step "Initialise the embedded token (first run)" \
		"hsmcert init-token --free --label $token_label"
	"$hsmcert" init-token --free --label "$token_label" \
		--so-pin-source "file:$data/so-pin" "$pin"
fi
step "The token" "hsmcert tokens"
"$hsmcert" tokens

step "Generate a non-exportable RSA-2048 key inside the token" \
	"hsmcert keygen --label web --if-missing"
"$hsmcert" keygen --label web --if-missing "$pin"

# Each later stage of the lifecycle is one file in scripts/demo.d, run in order.
for stage in "$root"/scripts/demo.d/*.sh; do
	# shellcheck source=/dev/null
	[ -e "$stage" ] && . "$stage"
done

printf '\nEmbedded token: %s (PINs in %s/so-pin and %s/user-pin)\n' "$data/tokens" "$data" "$data"
