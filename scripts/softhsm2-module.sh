#!/usr/bin/env bash
# SoftHSM2's PKCS#11 module, found where a user's machine has it. Sourced by
# scripts/demo.sh, scripts/bench.sh and scripts/testpki.sh for the function
# softhsm2_module; run, it prints the path (scripts/softhsm2-module.sh).
#
# HSMCERT_SOFTHSM2_MODULE names the module outright (it must exist: a typo is
# an error, not a silent fall-back to another module). Otherwise the first of
# the places distributions install it:
#   /usr/lib/softhsm/libsofthsm2.so           Debian, Ubuntu, Arch
#   /usr/lib/MULTIARCH/softhsm/libsofthsm2.so Debian's real file (MULTIARCH from
#                                             gcc -print-multiarch or dpkg-architecture)
#   /usr/lib64/pkcs11, /usr/lib64/softhsm     Fedora, RHEL, openSUSE
#   LIBDIR/softhsm, LIBDIR/pkcs11             LIBDIR from pkg-config (softhsm2 if it
#                                             ships a .pc, else p11-kit-1), and
#                                             p11-kit's own module directory
#   /usr/local/lib/softhsm, /opt/homebrew/lib/softhsm   builds from source, Homebrew
# The tests do not use this: tests/CMakeLists.txt finds the module at
# configure time (-DSOFTHSM2_MODULE=... overrides it there).

# softhsm2_module: print the module's path; status 1 and a message on stderr
# when there is none.
softhsm2_module() {
	local multiarch pc dir candidate
	local -a candidates=()

	if [ -n "${HSMCERT_SOFTHSM2_MODULE:-}" ]; then
		if [ -f "$HSMCERT_SOFTHSM2_MODULE" ]; then
			echo "$HSMCERT_SOFTHSM2_MODULE"
			return 0
		fi
		echo "HSMCERT_SOFTHSM2_MODULE=$HSMCERT_SOFTHSM2_MODULE: no such file" >&2
		return 1
	fi
	multiarch=$(gcc -print-multiarch 2>/dev/null ||
		dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
	candidates+=(/usr/lib/softhsm/libsofthsm2.so)
	[ -n "$multiarch" ] && candidates+=("/usr/lib/$multiarch/softhsm/libsofthsm2.so")
	candidates+=(/usr/lib64/pkcs11/libsofthsm2.so /usr/lib64/softhsm/libsofthsm2.so)
	for pc in softhsm2 p11-kit-1; do
		dir=$(pkg-config --variable=libdir "$pc" 2>/dev/null) || continue
		[ -n "$dir" ] && candidates+=("$dir/softhsm/libsofthsm2.so" "$dir/pkcs11/libsofthsm2.so")
	done
	dir=$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null) &&
		[ -n "$dir" ] && candidates+=("$dir/libsofthsm2.so")
	candidates+=(/usr/local/lib/softhsm/libsofthsm2.so /opt/homebrew/lib/softhsm/libsofthsm2.so)
	for candidate in "${candidates[@]}"; do
		if [ -f "$candidate" ]; then
			echo "$candidate"
			return 0
		fi
	done
	echo "SoftHSM2's module (libsofthsm2.so) is not in any of: ${candidates[*]}" >&2
	echo "install softhsm2, or name the module with HSMCERT_SOFTHSM2_MODULE=/path/libsofthsm2.so" >&2
	return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	softhsm2_module
fi
