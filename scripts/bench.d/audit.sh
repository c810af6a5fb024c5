# shellcheck shell=bash disable=SC2154,SC2317 # $root etc. set by scripts/bench.sh; functions are run by name
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
		local p=$1 i
		for ((i = p; i < AUDIT_BENCH_KEYS; i += parts)); do
			for _ in 1 2 3; do
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

# audit_peak_kb CMD...: the command's maximum resident set size in kB, the
# median of three runs.
audit_peak_kb() {
	local kb=() _
	for _ in 1 2 3; do
		kb+=("$(/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1)")
	done
	printf '%s\n' "${kb[@]}" | sort -n | sed -n 2p
}

# audit_cpu_ms CMD...: user + system CPU time of one run in ms (less sensitive
# than wall time to other work on a shared machine).
audit_cpu_ms() {
	/usr/bin/time -f '%U %S' "$@" 2>&1 >/dev/null | tail -1 |
		awk '{printf "%.0f", ($1 + $2) * 1000}'
}

# audit_row NAME VALUE [NOTE]
audit_row() {
	printf '  %-46s %9s  %s\n' "$1" "$2" "${3:-}"
}

bench_audit() {
	command -v /usr/bin/time >/dev/null 2>&1 || apt-get install -y -qq time >/dev/null
	audit_bench_token
	local conf=$AUDIT_BENCH_DIR/softhsm2.conf runs=${AUDIT_BENCH_RUNS:-11}
	local floor=$BENCH_DIR/p11floor t ours tool least least_all p11tool n
	local -x SOFTHSM2_CONF=$conf # this token only, not the other benches

	# The floor: only the PKCS#11 calls an audit cannot avoid (see p11floor.c).
	# shellcheck disable=SC2046 # pkg-config's flags are words
	cc -O2 -Wall $(pkg-config --cflags p11-kit-1) -o "$floor" "$root/scripts/bench.d/p11floor.c" -ldl

	audit_hsmcert() { "$HSMCERT" --token pkcs11:token=audit audit --json; }
	audit_pkcs11_tool() {
		pkcs11-tool --module "$MODULE" --token-label audit --login --pin "$PIN" --list-objects
	}
	audit_floor() { "$floor" "$MODULE" audit "$PIN" keys; }
	audit_floor_all() { "$floor" "$MODULE" audit "$PIN" all; }

	# Every peer must really read the whole token before it is timed.
	n=$(audit_hsmcert | sed -n 's/.*"private_keys": \([0-9]*\).*/\1/p')
	[ "$n" = "$AUDIT_BENCH_KEYS" ] || { echo "audit: hsmcert saw $n keys" >&2; return 1; }
	n=$(audit_pkcs11_tool 2>/dev/null | grep -c '^Private Key Object')
	[ "$n" = "$AUDIT_BENCH_KEYS" ] || { echo "audit: pkcs11-tool saw $n keys" >&2; return 1; }
	n=$(audit_floor)
	[ "$n" = "$AUDIT_BENCH_KEYS" ] || { echo "audit: p11floor saw $n keys" >&2; return 1; }
	n=$(audit_floor_all)
	[ "$n" = $((AUDIT_BENCH_KEYS * 2)) ] || { echo "audit: p11floor saw $n objects" >&2; return 1; }

	echo "  token: $AUDIT_BENCH_KEYS RSA-2048 key pairs ($((AUDIT_BENCH_KEYS * 2)) objects) in $AUDIT_BENCH_DIR"
	echo "  whole process, median of $runs interleaved runs (ms)"
	mapfile -t t < <(interleaved_ms "$runs" audit_hsmcert audit_pkcs11_tool audit_floor \
		audit_floor_all)
	ours=${t[0]} tool=${t[1]} least=${t[2]} least_all=${t[3]}
	audit_row "hsmcert audit --json" "$ours"
	audit_row "pkcs11-tool --list-objects --login" "$tool" \
		"pkcs11-tool/hsmcert = $(ratio "$tool" "$ours") (target >= 3)"
	if [ "${AUDIT_BENCH_P11TOOL:-1}" = 1 ]; then
		# About 95 s or more: run once, not a median.
		p11tool=$(median_ms 1 env GNUTLS_PIN="$PIN" p11tool --provider "$MODULE" --login \
			--list-all-privkeys "pkcs11:token=audit")
		audit_row "p11tool --list-all-privkeys --login (once)" "$p11tool" \
			"p11tool/hsmcert = $(ratio "$p11tool" "$ours")"
	fi
	audit_row "floor: private-key search, one fetch each" "$least" \
		"hsmcert/floor = $(ratio "$ours" "$least")"
	audit_row "floor: search all, one fetch per object" "$least_all" \
		"hsmcert/floor = $(ratio "$ours" "$least_all") (certificates need every object)"

	echo "  CPU, user + system (ms)"
	audit_row "hsmcert audit --json" \
		"$(audit_cpu_ms "$HSMCERT" --token pkcs11:token=audit audit --json)"
	audit_row "pkcs11-tool --list-objects --login" \
		"$(audit_cpu_ms pkcs11-tool --module "$MODULE" --token-label audit --login \
			--pin "$PIN" --list-objects)"

	# What the module itself holds for this token: loaded and initialised
	# (SoftHSM2 reads every object at C_Initialize), by a process that is
	# nothing else.
	local module_kb ours_kb fixed_kb tool_kb
	module_kb=$(audit_peak_kb "$floor" "$MODULE" audit "$PIN" load)
	fixed_kb=$(audit_peak_kb "$HSMCERT" --token pkcs11:token=audit tokens)
	ours_kb=$(audit_peak_kb "$HSMCERT" --token pkcs11:token=audit audit --json)
	tool_kb=$(audit_peak_kb pkcs11-tool --module "$MODULE" --token-label audit --login \
		--pin "$PIN" --list-objects)
	echo "  peak resident memory, median of 3 (kB)"
	audit_row "the module alone (p11floor load)" "$module_kb"
	audit_row "hsmcert audit --json" "$ours_kb" \
		"+$(awk -v a="$ours_kb" -v b="$module_kb" 'BEGIN{printf "%.1f", (a-b)*100/b}')% over the module (target <= 10%)"
	audit_row "hsmcert tokens (no audit: its libraries)" "$fixed_kb" \
		"audit adds $(((ours_kb - fixed_kb) * 1000 / AUDIT_BENCH_KEYS)) bytes per key pair"
	audit_row "pkcs11-tool --list-objects --login" "$tool_kb"
}
