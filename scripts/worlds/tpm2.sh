#!/usr/bin/env bash
# World: tpm2-pkcs11 on a software TPM. swtpm on a free local port, tpm2-abrmd
# (the resource manager tpm2_ptool needs) on a private D-Bus session bus, and
# the module and tpm2_ptool unpacked from their .debs into the build folder:
# installing libtpm2-pkcs11-1 would register it with p11-kit for every program.
set -euo pipefail
# shellcheck source=scripts/worlds/lib.sh
. "$(dirname "$0")/lib.sh"
cmd=${1:?usage: tpm2.sh up|down DIR}
dir=${2:?usage: tpm2.sh up|down DIR}

case $cmd in
up)
	root=$(unpack_debs tpm2 libtpm2-pkcs11-1 libtpm2-pkcs11-tools python3-tpm2-pkcs11-tools)
	module=$root/usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1
	[ -f "$module" ] || die "tpm2-pkcs11 module missing in $root"
	softhsm_world "$dir" peer
	mkdir -p "$dir/tpm" "$dir/store"
	port=$(free_port)
	setsid swtpm socket --tpm2 --tpmstate "dir=$dir/tpm" \
		--server "type=tcp,port=$port,bindaddr=127.0.0.1" \
		--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
		--flags not-need-init,startup-clear >"$dir/swtpm.log" 2>&1 &
	echo $! >"$dir/swtpm.pid"
	wait_for "swtpm on port $port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"

	setsid dbus-daemon --session --nofork --address="unix:path=$dir/bus" \
		>"$dir/dbus.log" 2>&1 &
	echo $! >"$dir/dbus.pid"
	wait_for "D-Bus socket" test -S "$dir/bus"
	bus=com.intel.tss2.Tabrmd.hsmcert$$
	DBUS_SESSION_BUS_ADDRESS=unix:path=$dir/bus setsid tpm2-abrmd --allow-root --session \
		--tcti="swtpm:host=127.0.0.1,port=$port" --dbus-name="$bus" \
		>"$dir/abrmd.log" 2>&1 &
	echo $! >"$dir/abrmd.pid"
	tcti="tabrmd:bus_name=$bus,bus_type=session"
	export DBUS_SESSION_BUS_ADDRESS=unix:path=$dir/bus TPM2TOOLS_TCTI=$tcti
	wait_for "tpm2-abrmd" tpm2_getcap properties-fixed

	export TPM2_PKCS11_TCTI=$tcti TPM2_PKCS11_STORE=$dir/store
	export PYTHONPATH=$root/usr/lib/python3/dist-packages
	ptool=$root/usr/bin/tpm2_ptool
	/usr/bin/python3 "$ptool" init --path="$dir/store" >/dev/null
	/usr/bin/python3 "$ptool" addtoken --path="$dir/store" --pid=1 --label=world \
		--sopin="$WORLD_SO_PIN" --userpin="$WORLD_PIN" >/dev/null

	write_env "$dir" tpm2 "$module" world
	{
		echo "export DBUS_SESSION_BUS_ADDRESS=$DBUS_SESSION_BUS_ADDRESS"
		echo "export TPM2TOOLS_TCTI='$tcti'"
		echo "export TPM2_PKCS11_TCTI='$tcti'"
		echo "export TPM2_PKCS11_STORE=$dir/store"
		echo "export TPM2_PKCS11_LOG_LEVEL=0"
		echo "export WORLD_TOOL_MODULE=$module"
	} >>"$dir/env"
	;;
down)
	stop_pid "$dir/abrmd.pid"
	stop_pid "$dir/dbus.pid"
	stop_pid "$dir/swtpm.pid"
	;;
*) die "usage: tpm2.sh up|down DIR" ;;
esac
