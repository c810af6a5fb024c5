#!/usr/bin/env bash
# Install the Debian packages hsmcert builds, tests and demonstrates with.
# Only what is missing is installed; `apt-get update` runs once, first.
set -euo pipefail

packages=(
	build-essential cmake pkg-config
	libp11-kit-dev p11-kit p11-kit-modules
	libssl-dev openssl
	libp11-dev libengine-pkcs11-openssl
	softhsm2
	libcriterion-dev
	libidn2-dev libcurl4-openssl-dev libjansson-dev
	opensc gnutls-bin xxd python3
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
	"${missing[@]}" >/dev/null
