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
	# checks the house runs in CI: layers, format, scripts, fuzzing
	clang libclang-rt-14-dev clang-format shellcheck
	# memory checks of a plain build (the suite's valgrind_lifecycle)
	valgrind
	# the man page (docs/hsmcert.md rendered) and the install test reading it
	go-md2man man-db
	# the other module worlds (tpm2-pkcs11 itself is unpacked, not installed: see scripts/worlds/)
	swtpm swtpm-tools tpm2-abrmd tpm2-tools dbus libnss3-tools
	libtss2-tcti-tabrmd0 python3-bcrypt python3-pyasn1 python3-pyasn1-modules python3-tpm2-pytss
	# ACME: step-ca built from Debian's Go sources at test time
	golang-go golang-github-smallstep-certificates-dev
	# deploy: the real servers, and a verifying client
	nginx apache2 curl
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
