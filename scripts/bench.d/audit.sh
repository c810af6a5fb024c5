# audit of a token with 2,000 RSA key pairs against pkcs11-tool --list-objects
# and p11tool --list-all-privkeys on the same token: whole process, median
# wall time, ratio, and peak memory against the module's own footprint.
#
# Making 2,000 key pairs takes minutes, so the token is kept between runs
# under /tmp (AUDIT_BENCH_DIR); delete the directory to start afresh.

AUDIT_BENCH_KEYS=${AUDIT_BENCH_KEYS:-2000}
AUDIT_BENCH_DIR=${AUDIT_BENCH_DIR:-/tmp/hsmcert-bench-audit-$AUDIT_BENCH_KEYS}

# audit_bench_token: the cached token "audit" with AUDIT_BENCH_KEYS key pairs,
# all made by our own keygen.
#
# SoftHSM2 reads every object of a token at C_Initialize and walks them all
# at each search, so one keygen process per key on a growing token costs
# O(n^2) (over an hour on a busy machine). Instead the empty token's
# directory is cloned into AUDIT_BENCH_PARTS parts, which share its token
# key; each part gets its share of keys, two parts at a time, and the object
# files are then moved into the token's directory (each object is one file
# with a unique name). --if-missing makes a rerun fill gaps.
audit_bench_token() {
	local dir=$AUDIT_BENCH_DIR conf=$AUDIT_BENCH_DIR/softhsm2.conf
	local parts=${AUDIT_BENCH_PARTS:-8} tokdir uuid p have
	[ -f "$dir/complete" ] && return 0
	rm -rf "$dir"
	mkdir -p "$dir/tokens"
	cat >"$conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
CONF
	SOFTHSM2_CONF=$conf softhsm2-util --init-token --free --label audit \
		--so-pin "$SO_PIN" --pin "$PIN" >/dev/null
	tokdir=$(ls -d "$dir"/tokens/*/)
	uuid=$(basename "$tokdir")
	echo "making $AUDIT_BENCH_KEYS RSA-2048 key pairs in $dir (once; minutes)" >&2
	for ((p = 0; p < parts; p++)); do
		mkdir -p "$dir/part$p/tokens/$uuid"
		cp -p "$tokdir"/token.object "$tokdir"/generation "$dir/part$p/tokens/$uuid/"
		sed "s|$dir/tokens|$dir/part$p/tokens|" "$conf" >"$dir/part$p/softhsm2.conf"
	done
	audit_bench_part() {
		local p=$1 i try
		for ((i = p; i < AUDIT_BENCH_KEYS; i += parts)); do
			for try in 1 2 3; do
				SOFTHSM2_CONF=$dir/part$p/softhsm2.conf "$HSMCERT" \
					--token pkcs11:token=audit keygen \
					--label "$(printf 'key%05d' "$i")" --if-missing \
					>/dev/null 2>&1 && break
			done
		done
	}
	for ((p = 0; p < parts; p += 2)); do
		audit_bench_part "$p" &
		((p + 1 < parts)) && audit_bench_part $((p + 1)) &
		wait
	done
	for ((p = 0; p < parts; p++)); do
		find "$dir/part$p/tokens/$uuid" -name '*-*.object' -exec mv {} "$tokdir" \;
		find "$dir/part$p/tokens/$uuid" -name '*-*.lock' -exec mv {} "$tokdir" \;
		rm -rf "$dir/part$p"
	done
	have=$(SOFTHSM2_CONF=$conf "$HSMCERT" --token pkcs11:token=audit audit --policy none \
		--json | sed -n 's/.*"private_keys": \([0-9]*\).*/\1/p')
	if [ "$have" != "$AUDIT_BENCH_KEYS" ]; then
		echo "the bench token has $have keys, not $AUDIT_BENCH_KEYS" >&2
		return 1
	fi
	touch "$dir/complete"
}

# audit_peak_kb CMD...: the command's maximum resident set size in kB.
audit_peak_kb() {
	/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1
}

# audit_cpu_ms CMD...: user + system CPU time of one run in ms (less sensitive
# than wall time to other work on a shared machine).
audit_cpu_ms() {
	/usr/bin/time -f '%U %S' "$@" 2>&1 >/dev/null | tail -1 |
		awk '{printf "%.0f", ($1 + $2) * 1000}'
}

bench_audit() {
	command -v /usr/bin/time >/dev/null 2>&1 || apt-get install -y -qq time >/dev/null
	audit_bench_token
	local conf=$AUDIT_BENCH_DIR/softhsm2.conf runs=${AUDIT_BENCH_RUNS:-7}
	local ours pkcs11_tool p11tool base_kb ours_kb tool_kb n
	local -x SOFTHSM2_CONF=$conf # this token only, not the other benches

	echo "token: $AUDIT_BENCH_KEYS RSA-2048 key pairs in $AUDIT_BENCH_DIR"

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
	if [ -n "${p11tool:-}" ]; then
		echo "ratio p11tool / hsmcert:     $(ratio "$p11tool" "$ours")x"
	fi
	printf '%-44s %10s ms\n' "CPU: hsmcert audit --json" \
		"$(audit_cpu_ms "$HSMCERT" --token pkcs11:token=audit audit --json)"
	printf '%-44s %10s ms\n' "CPU: pkcs11-tool --list-objects --login" \
		"$(audit_cpu_ms pkcs11-tool --module "$MODULE" --token-label audit --login \
			--pin "$PIN" --list-objects)"
	printf '%-44s %10s ms\n' "CPU: module alone (hsmcert tokens)" \
		"$(audit_cpu_ms "$HSMCERT" --token pkcs11:token=audit tokens)"

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
