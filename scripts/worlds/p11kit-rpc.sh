#!/usr/bin/env bash
# World: a SoftHSM2 token served by `p11-kit server` on a Unix socket, reached
# through p11-kit-client.so, the way a remote HSM is.
set -euo pipefail
# shellcheck source=scripts/worlds/lib.sh
. "$(dirname "$0")/lib.sh"
cmd=${1:?usage: p11kit-rpc.sh up|down DIR}
dir=${2:?usage: p11kit-rpc.sh up|down DIR}
client=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
case $cmd in
up)
	softhsm_world "$dir" world peer
	sock=$dir/p11kit.sock
	# Only the token "world" is served; -f keeps it in the foreground, so its PID is ours.
	SOFTHSM2_CONF=$dir/softhsm/softhsm2.conf setsid p11-kit server -f -n "$sock" \
		--provider "$SOFTHSM_MODULE" "pkcs11:token=world" >"$dir/server.log" 2>&1 &
	echo $! >"$dir/server.pid"
	wait_for "p11-kit server socket" test -S "$sock"
	write_env "$dir" p11kit-rpc "$client" world
	{
		echo "export P11_KIT_SERVER_ADDRESS=unix:path=$sock"
		echo "export WORLD_TOOL_MODULE=$client"
	} >>"$dir/env"
	;;
down) stop_pid "$dir/server.pid" ;;
*) die "usage: p11kit-rpc.sh up|down DIR" ;;
esac
