#!/usr/bin/env bash
# run.sh WORLD COMMAND...: bring the world up in a fresh temporary directory,
# run COMMAND with its environment, bring it down (also on failure or signal)
# and remove the directory. The exit status is COMMAND's.
# WORLD: softhsm2 | tpm2 | opencryptoki | nss | p11kit-rpc
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
world=${1:?usage: run.sh WORLD COMMAND...}
shift
[ -x "$here/$world.sh" ] || { echo "run.sh: no world '$world'" >&2; exit 2; }

# openCryptoki has fixed paths (/etc, /var/lib, /run): it lives in a private
# mount namespace, so the machine's own files are never touched.
if [ "$world" = opencryptoki ] && [ -z "${WORLD_IN_NAMESPACE:-}" ]; then
	exec env WORLD_IN_NAMESPACE=1 unshare --mount --propagation private "$0" "$world" "$@"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/hsmcert-world-$world.XXXXXX")
# shellcheck disable=SC2317 # called by the EXIT trap
down() {
	"$here/$world.sh" down "$dir" || true
	rm -rf "$dir"
}
trap down EXIT
trap 'exit 130' INT TERM
"$here/$world.sh" up "$dir"
set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a
status=0
"$@" || status=$?
exit $status
