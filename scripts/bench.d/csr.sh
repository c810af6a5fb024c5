# shellcheck shell=bash
# One CSR from an existing RSA-2048 token key, whole process, against the
# peers a user would otherwise run: openssl with the libp11 engine and
# GnuTLS's certtool, all with the module named (no p11-kit proxy) and the
# same token. Sourced by scripts/bench.sh (median_ms, ratio, new_token, ...).

# csr_median_ms MICROSECONDS...: their median in milliseconds.
csr_median_ms() {
	printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f\n", m/1000}'
}

bench_csr() {
	local runs=${BENCH_CSR_RUNS:-41}
	local token=bench-csr key uri dir
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

	# Runs are interleaved (hsmcert, openssl, certtool, hsmcert, ...) so that the
	# load of a shared machine falls on every peer alike; medians per peer.
	local i t0 t1 times_h=() times_o=() times_c=()
	for ((i = 0; i < runs + 2; i++)); do
		t0=$(date +%s%N); csr_hsmcert >/dev/null 2>&1; t1=$(date +%s%N)
		((i >= 2)) && times_h+=($(((t1 - t0) / 1000)))
		t0=$(date +%s%N); csr_openssl >/dev/null 2>&1; t1=$(date +%s%N)
		((i >= 2)) && times_o+=($(((t1 - t0) / 1000)))
		t0=$(date +%s%N); csr_certtool >/dev/null 2>&1; t1=$(date +%s%N)
		((i >= 2)) && times_c+=($(((t1 - t0) / 1000)))
	done
	local t_h t_o t_c
	t_h=$(csr_median_ms "${times_h[@]}")
	t_o=$(csr_median_ms "${times_o[@]}")
	t_c=$(csr_median_ms "${times_c[@]}")
	local fastest=$t_o
	awk -v a="$t_c" -v b="$t_o" 'BEGIN { exit !(a < b) }' && fastest=$t_c
	printf '  one CSR, RSA-2048 key on SoftHSM2, median of %d runs (ms)\n' "$runs"
	printf '  %-34s %8s\n' "hsmcert csr" "$t_h"
	printf '  %-34s %8s   hsmcert/openssl  = %s\n' "openssl req -engine pkcs11" "$t_o" "$(ratio "$t_h" "$t_o")"
	printf '  %-34s %8s   hsmcert/certtool = %s\n' "certtool --generate-request" "$t_c" "$(ratio "$t_h" "$t_c")"
	printf '  ratio to the fastest peer: %s (target <= 1.00)\n' "$(ratio "$t_h" "$fastest")"
	rm -rf "$dir"
}
