# shellcheck shell=bash disable=SC2154,SC2317 # $root etc. set by scripts/bench.sh; functions are run by name
# One CSR from an existing RSA-2048 token key, whole process, against the
# peers a user would otherwise run: openssl with the libp11 engine and
# GnuTLS's certtool, all with the module named (no p11-kit proxy) and the
# same token. Sourced by scripts/bench.sh (interleaved_ms, ratio, new_token, ...).

bench_csr() {
	local runs=${BENCH_CSR_RUNS:-41}
	local token=bench-csr uri dir
	dir=$(mktemp -d /tmp/hsmcert-bench-csr.XXXXXX)
	new_token "$token"
	"$HSMCERT" --token "pkcs11:token=$token" keygen --label web --type rsa:2048 >/dev/null
	uri="pkcs11:token=$token;object=web;type=private"
	printf 'cn = www.example.hk\ndns_name = www.example.hk\n' >"$dir/certtool.tmpl"

	csr_hsmcert() {
		"$HSMCERT" csr --key "$uri" --cn www.example.hk
	}
	csr_openssl() {
		PKCS11_MODULE_PATH=$MODULE openssl req -new -engine pkcs11 -keyform engine \
			-key "$uri;pin-value=$PIN" -subj /CN=www.example.hk \
			-addext subjectAltName=DNS:www.example.hk
	}
	csr_certtool() {
		GNUTLS_PIN=$PIN certtool --generate-request --provider "$MODULE" \
			--load-privkey "$uri" --template "$dir/certtool.tmpl"
	}

	# Each peer must really produce a verifying request before it is timed: the
	# libp11 engine crashes on failure, and a crash is fast.
	local peer
	for peer in hsmcert openssl certtool; do
		if ! "csr_$peer" 2>/dev/null | openssl req -noout -verify 2>&1 | grep -q 'verify OK'; then
			echo "csr: $peer did not produce a verifying request; not timed" >&2
			rm -rf "$dir"
			return 1
		fi
	done

	local t t_h t_o t_c
	mapfile -t t < <(interleaved_ms "$runs" csr_hsmcert csr_openssl csr_certtool)
	t_h=${t[0]} t_o=${t[1]} t_c=${t[2]}
	local fastest=$t_o
	awk -v a="$t_c" -v b="$t_o" 'BEGIN { exit !(a < b) }' && fastest=$t_c
	printf '  one CSR, RSA-2048 key on SoftHSM2, median of %d interleaved runs (ms)\n' "$runs"
	printf '  %-34s %8s\n' "hsmcert csr" "$t_h"
	printf '  %-34s %8s   hsmcert/openssl  = %s\n' "openssl req -engine pkcs11" "$t_o" "$(ratio "$t_h" "$t_o")"
	printf '  %-34s %8s   hsmcert/certtool = %s\n' "certtool --generate-request" "$t_c" "$(ratio "$t_h" "$t_c")"
	printf '  ratio to the fastest peer: %s (target <= 1.00)\n' "$(ratio "$t_h" "$fastest")"
	rm -rf "$dir"
}
