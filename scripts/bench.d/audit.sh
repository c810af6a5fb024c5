# audit of a token with 2,000 RSA key pairs against pkcs11-tool --list-objects
# and p11tool --list-all-privkeys on the same token: whole process, median
# wall time, ratio, and peak memory against the module's own footprint.
#
# Making 2,000 key pairs takes minutes, so the token is kept between runs
# under /tmp (AUDIT_BENCH_DIR); delete the directory to start afresh.

AUDIT_BENCH_KEYS=${AUDIT_BENCH_KEYS:-2000}
AUDIT_BENCH_DIR=${AUDIT_BENCH_DIR:-/tmp/hsmcert-bench-audit-$AUDIT_BENCH_KEYS}

# audit_bench_token: the cached token "audit" with AUDIT_BENCH_KEYS key pairs,
# generated with our own keygen in two parallel workers.
audit_bench_token() {
	local dir=$AUDIT_BENCH_DIR conf=$AUDIT_BENCH_DIR/softhsm2.conf
	if [ -f "$dir/complete" ]; then
		return 0
	fi
	rm -rf "$dir"
	mkdir -p "$dir/tokens"
	cat >"$conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
CONF
	SOFTHSM2_CONF=$conf softhsm2-util --init-token --free --label audit \
		--so-pin "$SO_PIN" --pin "$PIN" >/dev/null
	echo "making $AUDIT_BENCH_KEYS RSA-2048 key pairs in $dir (once; minutes)" >&2
	local worker
	for worker in 0 1; do
		(
			local i
			for ((i = worker; i < AUDIT_BENCH_KEYS; i += 2)); do
				SOFTHSM2_CONF=$conf "$HSMCERT" --token pkcs11:token=audit \
					keygen --label "$(printf 'key%05d' "$i")" --if-missing \
					>/dev/null || exit 1
			done
		) &
	done
	wait
	touch "$dir/complete"
}

# peak_kb CMD...: the command's maximum resident set size in kB.
audit_peak_kb() {
	/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1
}

bench_audit() {
	command -v /usr/bin/time >/dev/null 2>&1 || apt-get install -y -qq time >/dev/null
	audit_bench_token
	local conf=$AUDIT_BENCH_DIR/softhsm2.conf runs=${AUDIT_BENCH_RUNS:-7}
	local ours pkcs11_tool p11tool base_kb ours_kb tool_kb n
	export SOFTHSM2_CONF=$conf

	n=$("$HSMCERT" --token pkcs11:token=audit audit --policy none --json |
		grep -c '"class": "private_key"' || true)
	echo "token: $n private keys (of $AUDIT_BENCH_KEYS key pairs) in $AUDIT_BENCH_DIR"

	ours=$(median_ms "$runs" "$HSMCERT" --token pkcs11:token=audit audit --json)
	pkcs11_tool=$(median_ms "$runs" pkcs11-tool --module "$MODULE" --token-label audit \
		--login --pin "$PIN" --list-objects)
	printf '%-44s %10s ms\n' "hsmcert audit --json (median of $runs)" "$ours"
	printf '%-44s %10s ms\n' "pkcs11-tool --list-objects --login" "$pkcs11_tool"
	if [ "${AUDIT_BENCH_P11TOOL:-1}" = 1 ]; then
		# About 95 s on this machine: run once, not a median.
		p11tool=$(median_ms 1 env GNUTLS_PIN="$PIN" p11tool --provider "$MODULE" --login \
			--list-all-privkeys "pkcs11:token=audit")
		printf '%-44s %10s ms\n' "p11tool --list-all-privkeys --login (once)" "$p11tool"
	fi
	echo "ratio pkcs11-tool / hsmcert: $(ratio "$pkcs11_tool" "$ours")x (target >= 3x)"
	[ -n "${p11tool:-}" ] && echo "ratio p11tool / hsmcert:     $(ratio "$p11tool" "$ours")x"

	# The module's own footprint: loaded and initialised (every object read), nothing else.
	base_kb=$(audit_peak_kb "$HSMCERT" --token pkcs11:token=audit tokens)
	ours_kb=$(audit_peak_kb "$HSMCERT" --token pkcs11:token=audit audit --json)
	tool_kb=$(audit_peak_kb pkcs11-tool --module "$MODULE" --token-label audit --login \
		--pin "$PIN" --list-objects)
	printf '%-44s %10s kB\n' "peak RSS: module alone (hsmcert tokens)" "$base_kb"
	printf '%-44s %10s kB (+%s%%, target <= 10%%)\n' "peak RSS: hsmcert audit --json" \
		"$ours_kb" "$(awk -v a="$ours_kb" -v b="$base_kb" 'BEGIN{printf "%.1f", (a-b)*100/b}')"
	printf '%-44s %10s kB\n' "peak RSS: pkcs11-tool --list-objects" "$tool_kb"
}
