#!/usr/bin/env bash
# World: the openCryptoki soft token behind pkcsslotd. openCryptoki's paths
# are fixed at build time (/etc/opencryptoki, /var/lib/opencryptoki, /run,
# the pkcs11 group), so the world is made in a private mount namespace
# (run.sh starts one): the packages are unpacked into the build folder, not
# installed, and overlays on /usr, /etc, /var/lib, /run and /dev/shm hold the
# world's files. When the namespace ends nothing of it remains; the
# machine's files are never written.
set -euo pipefail
# shellcheck source=scripts/worlds/lib.sh
. "$(dirname "$0")/lib.sh"
cmd=${1:?usage: opencryptoki.sh up|down DIR}
dir=${2:?usage: opencryptoki.sh up|down DIR}
# openCryptoki takes 4 to 8 character PINs; the default SO PIN must be changed.
so_pin=${WORLD_OCK_SO_PIN:-11223344}

# overlay TARGET NAME [LOWER...]: TARGET gets a writable layer in DIR/NAME.
overlay() {
	local target=$1 name=$2 lower
	shift 2
	lower=$target
	[ $# -eq 0 ] || lower=$(printf '%s:' "$@")$target
	mkdir -p "$dir/ns/$name/upper" "$dir/ns/$name/work"
	mount -t overlay overlay \
		-o "lowerdir=$lower,upperdir=$dir/ns/$name/upper,workdir=$dir/ns/$name/work" "$target"
}

case $cmd in
up)
	[ -n "${WORLD_IN_NAMESPACE:-}" ] ||
		die "openCryptoki runs only in a private mount namespace: use run.sh opencryptoki"
	root=$(unpack_debs opencryptoki opencryptoki libopencryptoki0)
	softhsm_world "$dir" peer
	overlay /usr usr "$root/usr"
	overlay /etc etc
	overlay /var/lib varlib
	overlay /run run
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	grep -q '^pkcs11:' /etc/group || echo "pkcs11:x:$(( $(cut -d: -f3 /etc/group | sort -n | tail -1) + 1 )):root" >>/etc/group
	mkdir -p /etc/opencryptoki /var/lib/opencryptoki/world/TOK_OBJ /run/lock/opencryptoki/world
	cat >/etc/opencryptoki/opencryptoki.conf <<CONF
version opencryptoki-3.1

slot 0
{
stdll = libpkcs11_sw.so
tokname = world
}
CONF
	chgrp -R pkcs11 /var/lib/opencryptoki /run/lock/opencryptoki
	chmod -R 0770 /var/lib/opencryptoki /run/lock/opencryptoki
	/usr/sbin/pkcsslotd >"$dir/pkcsslotd.log" 2>&1
	wait_for "pkcsslotd" test -s /run/pkcsslotd.pid
	cp /run/pkcsslotd.pid "$dir/pkcsslotd.pid"
	printf 'world\n' | pkcsconf -I -c 0 -S 87654321 >/dev/null
	pkcsconf -P -c 0 -S 87654321 -n "$so_pin" >/dev/null
	pkcsconf -u -c 0 -S "$so_pin" -n "$WORLD_PIN" >/dev/null
	write_env "$dir" opencryptoki /usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so world
	{
		echo "export HSMCERT_SO_PIN=$so_pin"
		echo "export WORLD_TOOL_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so"
		# The module leaks a few bytes that LeakSanitizer can only name after it
		# is unloaded ("unknown module"); our leaks show in the other worlds.
		echo "export ASAN_OPTIONS=\"${ASAN_OPTIONS:-abort_on_error=0}:detect_leaks=0\""
	} >>"$dir/env"
	;;
down)
	# The mounts go with the namespace; the daemon must go first, by its PID.
	stop_pid "$dir/pkcsslotd.pid"
	;;
*) die "usage: opencryptoki.sh up|down DIR" ;;
esac
