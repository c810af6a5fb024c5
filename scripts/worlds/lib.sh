# shellcheck shell=bash
# Shared by the module worlds (sourced, not run). A world is a directory
# holding everything one PKCS#11 implementation needs, brought up from Debian
# packages without registering anything with p11-kit for other programs:
#   WORLD.sh up DIR    start it; writes DIR/env (export lines for hsmcert and tools)
#   WORLD.sh down DIR  stop what `up` started, by PID; put back what it changed
# run.sh wraps both around a command.

WORLDS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Slow downloads and unpacked packages are cached in the build folder.
WORLDS_CACHE=${HSMCERT_WORLDS_CACHE:-${HSMCERT_BUILD_DIR:-$WORLDS_DIR/../../build}/worlds-cache}
mkdir -p "$WORLDS_CACHE" && WORLDS_CACHE=$(cd "$WORLDS_CACHE" && pwd)
WORLD_PIN=${WORLD_PIN:-12345678}
WORLD_SO_PIN=${WORLD_SO_PIN:-87654321}
# shellcheck source=scripts/softhsm2-module.sh
. "$WORLDS_DIR/../softhsm2-module.sh"
SOFTHSM_MODULE=$(softhsm2_module) || exit 1

die() { echo "world: $*" >&2; exit 1; }

# unpack_debs NAME PKG... : the packages' files under $WORLDS_CACHE/NAME/root,
# fetched with `apt-get download` once and kept. Nothing is installed.
unpack_debs() {
	local name=$1 root=$WORLDS_CACHE/$1/root pkg deb
	shift
	[ -f "$root/.done" ] && { echo "$root"; return; }
	mkdir -p "$WORLDS_CACHE/$name/debs" "$root"
	for pkg in "$@"; do
		deb=$(find "$WORLDS_CACHE/$name/debs" -name "${pkg}_*.deb" | head -1)
		if [ -z "$deb" ]; then
			(cd "$WORLDS_CACHE/$name/debs" && apt-get download "$pkg" >/dev/null 2>&1) ||
				die "apt-get download $pkg failed"
			deb=$(find "$WORLDS_CACHE/$name/debs" -name "${pkg}_*.deb" | head -1)
		fi
		dpkg-deb -x "$deb" "$root"
	done
	touch "$root/.done"
	echo "$root"
}

# wait_for WHAT TEST... : poll (bounded, 10 s) until the command succeeds.
wait_for() {
	local what=$1
	shift
	for _ in $(seq 1 200); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	die "timed out waiting for $what"
}

# A free TCP port on 127.0.0.1 (not 2321, the TPM simulators' default).
free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# stop_pid FILE: end the process whose PID FILE holds, and wait for it.
stop_pid() {
	local f=$1 pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

# A SoftHSM2 world in DIR/softhsm with tokens LABEL... (user and SO PINs as above).
softhsm_world() {
	local dir=$1 label
	shift
	mkdir -p "$dir/softhsm/tokens"
	cat >"$dir/softhsm/softhsm2.conf" <<CONF
directories.tokendir = $dir/softhsm/tokens
objectstore.backend = file
log.level = ERROR
CONF
	for label in "$@"; do
		SOFTHSM2_CONF=$dir/softhsm/softhsm2.conf softhsm2-util --init-token --free \
			--label "$label" --pin "$WORLD_PIN" --so-pin "$WORLD_SO_PIN" >/dev/null
	done
}

# The environment every world gives: the module, the token, the PINs, and a
# SoftHSM2 peer token "peer" (for backups that cross modules).
write_env() {
	local dir=$1 name=$2 module=$3 token=$4
	{
		echo "export WORLD=$name"
		echo "export WORLD_DIR=$dir"
		echo "export HSMCERT_MODULE=$module"
		echo "export WORLD_TOKEN=$token"
		echo "export HSMCERT_TOKEN='pkcs11:token=$token'"
		echo "export HSMCERT_PIN=$WORLD_PIN"
		echo "export HSMCERT_SO_PIN=$WORLD_SO_PIN"
		echo "export SOFTHSM2_CONF=$dir/softhsm/softhsm2.conf"
		echo "export WORLD_PEER_MODULE=$SOFTHSM_MODULE"
		echo "export WORLD_PEER_TOKEN=peer"
	} >"$dir/env"
}
