#!/usr/bin/env bash
# The end-to-end lifecycle (SPEC: tokens → init-token → keygen → csr → request →
# [CA signs] → chain → import → list → check → backup → restore → audit → delete)
# with every hsmcert run under valgrind memcheck, on a plain (not sanitized)
# build in $HSMCERT_BUILD_DIR (default build-valgrind). Any memory error or
# definite leak fails (exit 99 from that run). Prints each step's time.
# With HSMCERT_STEPCA (a step-ca binary, scripts/stepca.sh build; required
# to exist when given) it goes on over ACME against a CA of its own on
# 127.0.0.1: enroll, renew with a new key, renew --reuse-key, renew --all
# with nothing due. http-01 needs port 80: those runs hold the lock the test
# suite's ACME tests hold ($HSMCERT_PORT80_LOCK, else port80.lock beside the
# step-ca binary, as tests/support/support.c names it).
# ctest runs it (test valgrind_lifecycle, label valgrind).
#   scripts/valgrind-lifecycle.sh [--no-valgrind]   (the same without valgrind, to compare)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=$(realpath -m "${HSMCERT_BUILD_DIR:-build-valgrind}")
stepca=${HSMCERT_STEPCA:+$(realpath -m "$HSMCERT_STEPCA")}
if [ -n "$stepca" ] && [ ! -x "$stepca" ]; then
	echo "valgrind-lifecycle: no step-ca at $stepca (scripts/stepca.sh build $stepca)" >&2
	exit 1
fi
# Configured once, then built incrementally: the binary is always this tree's.
[ -f "$build/CMakeCache.txt" ] ||
	cmake -S . -B "$build" -DBUILD_TESTING=OFF -DHSMCERT_SANITIZE=OFF >/dev/null
cmake --build "$build" --target hsmcert-cli -j"$(nproc)" >/dev/null
bin=$(cd "$build" && pwd)/hsmcert
vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
	--show-leak-kinds=definite --suppressions="$src/tests/support/valgrind.supp")
[ "${1:-}" = --no-valgrind ] && vg=()

work=$(mktemp -d "${TMPDIR:-/tmp}/hsmcert-vg.XXXXXX")
trap '"$src/scripts/stepca.sh" stop "$work/ca" >/dev/null 2>&1; rm -rf "$work"' EXIT
cd "$work"
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$work" >softhsm2.conf
# shellcheck source=scripts/softhsm2-module.sh
. "$src/scripts/softhsm2-module.sh"
HSMCERT_MODULE=$(softhsm2_module) || exit 1
export SOFTHSM2_CONF=$work/softhsm2.conf HSMCERT_MODULE
export HSMCERT_PIN=12345678 HSMCERT_SO_PIN=87654321 HSMCERT_PASSPHRASE='correct horse battery staple'

p80=()
step() { # NAME ARGS...: one hsmcert run, timed (holding the port-80 lock if p80 says so)
	local name=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"${p80[@]}" "${vg[@]}" "$bin" "$@" >"$name.out" 2>"$name.err" || {
		echo "FAILED: $name (exit $?)" >&2
		cat "$name.err" >&2
		exit 1
	}
	t1=$(date +%s%N)
	printf '%-10s %6d ms\n' "$name" $(((t1 - t0) / 1000000))
}

total0=$(date +%s%N)
step tokens tokens
step init init-token --free --label life
export HSMCERT_TOKEN=pkcs11:token=life
step keygen keygen --label web --type ec:P-256 --exportable
step csr csr --key pkcs11:object=web --cn www.example.test -o web.csr
step request request --label mail --cn mail.example.test -o mail.csr
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
	-out ca.crt -days 30 -subj /CN=Lifecycle\ CA \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	2>/dev/null
openssl x509 -req -in web.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 20 \
	-copy_extensions copy -out web.crt 2>/dev/null
step chain chain --cert web.crt --roots ca.crt -o web-chain.pem
step import import --cert web.crt
step list list
step check check --key pkcs11:object=web --roots ca.crt
step show show web.crt
step backup backup --key pkcs11:object=web -o web.hsmb
step delete delete --yes --all-matching pkcs11:object=web
step restore restore web.hsmb
step audit audit --policy none
if [ -n "$stepca" ]; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$src/scripts/stepca.sh" config ca "$port" 24h >/dev/null
	"$src/scripts/stepca.sh" start "$stepca" ca >/dev/null
	acme=https://127.0.0.1:$port/acme/acme/directory
	long=https://127.0.0.1:$port/acme/long/directory
	p80=(flock "${HSMCERT_PORT80_LOCK:-$(dirname "$stepca")/port80.lock}")
	step enroll enroll --acme "$acme" --acme-roots ca/root.crt --label acme-web \
		--type ec:P-256 --cn localhost -o acme-chain.pem
	step renew renew --key pkcs11:object=acme-web --days 2 --acme "$long" \
		--acme-roots ca/root.crt
	step renew-reuse renew --key pkcs11:object=acme-web --days 30 --reuse-key \
		--acme "$long" --acme-roots ca/root.crt
	step renew-all renew --all --days 1 --acme "$long" --acme-roots ca/root.crt
	if ! grep -q 'renewed' renew.out || ! grep -q 'Nothing due' renew-all.out; then
		echo "FAILED: renew did not renew, or renew --all found something due" >&2
		cat renew.out renew-all.out >&2
		exit 1
	fi
	p80=()
fi
total1=$(date +%s%N)
printf '%-10s %6d ms%s\n' total $(((total1 - total0) / 1000000)) \
	"$([ ${#vg[@]} -eq 0 ] && echo ' (no valgrind)' || echo ' (valgrind memcheck)')"
