#!/usr/bin/env bash
# `cmake --install` yields the tool, its man page and its bash completion, and
# the man page and the completion know every command and option the binary has.
set -euo pipefail
build=${HSMCERT_BUILD_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
no() { echo "FAIL: $*"; fail=1; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log"
bin=$tmp/prefix/bin/hsmcert
man1=$tmp/prefix/share/man/man1/hsmcert.1
completion=$tmp/prefix/share/bash-completion/completions/hsmcert
for f in "$bin" "$man1" "$completion"; do
	[ -s "$f" ] || no "$f not installed"
done
if ! { [ -x "$bin" ] && "$bin" --version | grep -q '^hsmcert '; }; then
	no "the installed binary does not run"
fi
[ -e "$tmp/prefix/include" ] && no "headers installed: the library is internal"
[ -n "$(find "$tmp/prefix" -name '*.a' -o -name '*.so*')" ] && no "a library was installed"

# man -l renders it, without complaints, as a man page (NAME, SYNOPSIS).
MANWIDTH=80 man -l "$man1" >"$tmp/man.txt" 2>"$tmp/man.err" || no "man -l failed: $(cat "$tmp/man.err")"
[ -s "$tmp/man.err" ] && no "man -l complained: $(cat "$tmp/man.err")"
if ! { grep -q '^NAME' "$tmp/man.txt" && grep -q '^SYNOPSIS' "$tmp/man.txt"; }; then
	no "no NAME/SYNOPSIS in the page"
fi

# True to the code: every command of the binary is a section, every option of
# each command's --help is in the page (long or short form).
commands=$("$bin" --help | sed -nE '/^Commands:/,/^$/s/^  ([a-z][a-z0-9-]*) .*/\1/p')
[ "$(wc -w <<<"$commands")" -ge 10 ] || no "too few commands read from --help: $commands"
for c in $commands; do
	grep -qE "^   $c$" "$tmp/man.txt" || no "man page: no section for command '$c'"
	"$bin" help "$c" | sed -nE 's/^ {1,4}(-([A-Za-z]), )?(--[a-z0-9-]+).*/\3 -\2/p' |
		while read -r long short; do
			[ "$long" = --help ] && continue
			grep -qe "$long" "$tmp/man.txt" || { [ "$short" != - ] && grep -qe "$short " "$tmp/man.txt"; } ||
				echo "man page: '$c $long' is not documented (docs/hsmcert.md)"
		done
done >"$tmp/undocumented"
[ -s "$tmp/undocumented" ] && no "$(cat "$tmp/undocumented")"

# The completion offers commands, a command's options and files for FILE values.
cat >"$tmp/complete.sh" <<SH
source "$completion"
t() { COMP_WORDS=("\$@"); COMP_CWORD=\$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _hsmcert; echo "\${COMPREPLY[*]}"; }
PATH="$tmp/prefix/bin:\$PATH"
t hsmcert ke
t hsmcert --json keygen --la
t hsmcert help res
t hsmcert show --passphrase-source x "$tmp/inst"
t hsmcert ""
SH
mapfile -t got < <(bash "$tmp/complete.sh")
[ "${got[0]-}" = keygen ] || no "completion of 'hsmcert ke': '${got[0]-}'"
[ "${got[1]-}" = --label ] || no "completion of 'keygen --la': '${got[1]-}'"
[ "${got[2]-}" = "restore" ] || no "completion of 'help res': '${got[2]-}'"
[ "${got[3]-}" = "$tmp/install.log" ] || no "completion of a file argument: '${got[3]-}'"
for c in $commands; do
	grep -qw -- "$c" <<<"${got[4]-}" || no "completion does not offer '$c'"
done
[ $fail = 0 ] && echo "ok: installed, man page and completion match the binary ($(wc -w <<<"$commands") commands)"
exit $fail
