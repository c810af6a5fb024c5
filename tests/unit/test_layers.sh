#!/usr/bin/env bash
# scripts/check-layers.sh passes on this tree and fails on a copy with a planted
# violation of each rule (a PKCS#11 call, printing and a flag named in the
# library, an include of a pkcs11/ header).
set -euo pipefail
src=${HSMCERT_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

if ! out=$("$src/scripts/check-layers.sh" "$src" 2>&1); then
	printf 'FAIL: the real tree does not pass:\n%s\n' "$out"
	fail=1
fi

copy_tree() {
	mkdir -p "$tmp/$1"
	cp -r "$src/src" "$src/include" "$src/pkcs11" "$tmp/$1/"
}

plant() { # NAME FILE LINE: append LINE to FILE in a copy; the check must fail naming FILE:N
	local name=$1 file=$2 line=$3 n out
	copy_tree "$name"
	printf '%s\n' "$line" >>"$tmp/$name/$file"
	n=$(wc -l <"$tmp/$name/$file")
	if out=$("$src/scripts/check-layers.sh" "$tmp/$name" 2>&1); then
		echo "FAIL: $name: planted '$line' in $file and the check passed"
		fail=1
	elif ! grep -q "^$file:$n: " <<<"$out"; then
		echo "FAIL: $name: the check did not name $file:$n: $out"
		fail=1
	else
		echo "ok: $name"
	fi
}
plant p11 src/key/key.c 'static void f(void) { C_Login(0, 0, 0, 0); }'
plant libp11 src/check/check.c '#include <libp11.h>'
plant print src/core/file.c 'static void g(void) { fprintf(stderr, "x"); }'
plant exit pkcs11/session.c 'static void h(void) { exit(1); }'
plant flag src/csr/csr.c 'static const char *m = "use --force";'
plant include src/cmd/main.c '#include "../../pkcs11/internal.h"'

# Comments and strings that merely mention these names are not violations.
copy_tree quiet
printf '%s\n' '/* C_Login( printf( "--force" */' 'static const char *n = "C_Login(";' \
	'// exit(1);' >>"$tmp/quiet/src/key/key.c"
n=$(wc -l <"$tmp/quiet/src/key/key.c")
if "$src/scripts/check-layers.sh" "$tmp/quiet" 2>&1 | grep -E "^src/key/key.c:($((n - 2))|$((n - 1))|$n): "; then
	echo "FAIL: a comment or string was taken for a violation"
	fail=1
fi
exit $fail
