#!/usr/bin/env bash
# World: NSS softoken. The module needs its database in C_Initialize's
# pReserved; a p11-kit module file in the world carries it (x-init-reserved),
# and hsmcert --module takes that file. Nothing is registered with p11-kit.
set -euo pipefail
# shellcheck source=scripts/worlds/lib.sh
. "$(dirname "$0")/lib.sh"
cmd=${1:?usage: nss.sh up|down DIR}
dir=${2:?usage: nss.sh up|down DIR}
softokn=/usr/lib/x86_64-linux-gnu/libsoftokn3.so
case $cmd in
up)
	softhsm_world "$dir" peer
	mkdir -p "$dir/nssdb"
	printf '%s\n' "$WORLD_PIN" >"$dir/nss.pw"
	certutil -N -d "sql:$dir/nssdb" -f "$dir/nss.pw"
	cat >"$dir/nss.module" <<MOD
module: $softokn
x-init-reserved: configdir='sql:$dir/nssdb' certPrefix='' keyPrefix='' secmod='secmod.db' flags= dbTokenDescription='world'
MOD
	write_env "$dir" nss "$dir/nss.module" world
	# pkcs11-tool cannot pass the init string: NSS's own tools are the peers here.
	echo "export WORLD_NSSDB=sql:$dir/nssdb" >>"$dir/env"
	;;
down) ;;
*) die "usage: nss.sh up|down DIR" ;;
esac
