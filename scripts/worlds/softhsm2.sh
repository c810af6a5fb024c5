#!/usr/bin/env bash
# World: SoftHSM2, a token in a private token directory (SOFTHSM2_CONF).
set -euo pipefail
# shellcheck source=scripts/worlds/lib.sh
. "$(dirname "$0")/lib.sh"
cmd=${1:?usage: softhsm2.sh up|down DIR}
dir=${2:?usage: softhsm2.sh up|down DIR}
case $cmd in
up)
	softhsm_world "$dir" world peer
	write_env "$dir" softhsm2 "$SOFTHSM_MODULE" world
	echo "export WORLD_TOOL_MODULE=$SOFTHSM_MODULE" >>"$dir/env"
	;;
down) ;; # nothing runs; the directory is the caller's
*) die "usage: softhsm2.sh up|down DIR" ;;
esac
