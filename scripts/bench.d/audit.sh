# shellcheck shell=bash disable=SC2154,SC2317 # $root etc. set by scripts/bench.sh; functions are run by name
# audit of a token with 2,000 key pairs against pkcs11-tool --list-objects
# and p11tool --list-all-privkeys on the same token: whole process, median
# wall time, ratio, and peak memory against the module's own footprint.
#
# The token is made once by p11gen.c and kept in the bench build folder,
# keyed by a stamp of what made it (AUDIT_BENCH_DIR); a change of the
# generator, the key type or count, or SoftHSM2's version makes a new one.
# AUDIT_BENCH_BASELINE=/path/to/hsmcert adds another build (say main's) to
# the same interleaved rounds, to see a change is no regression.

AUDIT_BENCH_KEYS=${AUDIT_BENCH_KEYS:-2000}
# ec (P-256, 2,000 pairs in seconds) or rsa (2048 bits: about 0.2 s of CPU a pair).
AUDIT_BENCH_TYPE=${AUDIT_BENCH_TYPE:-ec}

# audit_bench_name: the key pairs in words, for the bench's output.
audit_bench_name() {
	case $AUDIT_BENCH_TYPE in
	ec) echo "$AUDIT_BENCH_KEYS EC P-256 key pairs" ;;
	rsa) echo "$AUDIT_BENCH_KEYS RSA-2048 key pairs" ;;
	esac
}

# audit_bench_token: the cached token "audit" with AUDIT_BENCH_KEYS key pairs
# (AUDIT_BENCH_DIR/softhsm2.conf), made by p11gen in one process and one
# session. It is made on tmpfs when there is one (SoftHSM2 rewrites an
# object's file for each attribute it sets: on a disk that is most of the
# time) and then moved into place; a run interrupted half-way leaves no
# "complete" mark and the next starts afresh.
audit_bench_token() {
	local stamp gen work conf n
	case $AUDIT_BENCH_TYPE in
	ec | rsa) ;;
	*) echo "AUDIT_BENCH_TYPE must be ec or rsa, not $AUDIT_BENCH_TYPE" >&2; return 1 ;;
	esac
	stamp=$({
		softhsm2-util --version
		cat "$root"/scripts/bench.d/p11gen.c "$root"/scripts/bench.d/p11bench.h
	} | sha256sum | cut -c1-12)
	AUDIT_BENCH_DIR=${AUDIT_BENCH_DIR:-$root/build-bench/bench-cache/audit-$AUDIT_BENCH_TYPE-$AUDIT_BENCH_KEYS-$stamp}
	[ -f "$AUDIT_BENCH_DIR/complete" ] && return 0
	gen=$BENCH_DIR/p11gen
	# shellcheck disable=SC2046 # pkg-config's flags are words
	cc -O2 -Wall $(pkg-config --cflags p11-kit-1) -o "$gen" "$root/scripts/bench.d/p11gen.c" -ldl
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then
		work=$(mktemp -d /dev/shm/hsmcert-bench-token.XXXXXX)
	else
		work=$(mktemp -d "$BENCH_DIR/token.XXXXXX")
	fi
	mkdir -p "$work/tokens"
	conf=$work/softhsm2.conf
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$work" >"$conf"
	echo "making $(audit_bench_name) for the audit benches (once)" >&2
	SOFTHSM2_CONF=$conf softhsm2-util --init-token --free --label audit \
		--so-pin "$SO_PIN" --pin "$PIN" >/dev/null
	if ! n=$(SOFTHSM2_CONF=$conf "$gen" "$MODULE" audit "$PIN" "$AUDIT_BENCH_KEYS" \
		"$AUDIT_BENCH_TYPE") || [ "$n" != "$AUDIT_BENCH_KEYS" ]; then
		rm -rf "$work"
		echo "p11gen made ${n:-no} key pairs, not $AUDIT_BENCH_KEYS" >&2
		return 1
	fi
	# Tokens of an older stamp (and their copies) are out of date.
	case $AUDIT_BENCH_DIR in
	"$root"/build-bench/bench-cache/*) rm -rf "${AUDIT_BENCH_DIR%-*}"-* ;;
	*) rm -rf "$AUDIT_BENCH_DIR" ;;
	esac
	mkdir -p "$AUDIT_BENCH_DIR"
	cp -r "$work/tokens" "$AUDIT_BENCH_DIR/tokens"
	rm -rf "$work"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$AUDIT_BENCH_DIR" >"$AUDIT_BENCH_DIR/softhsm2.conf"
	n=$(SOFTHSM2_CONF=$AUDIT_BENCH_DIR/softhsm2.conf "$HSMCERT" --token pkcs11:token=audit \
		audit --policy none --json | sed -n 's/.*"private_keys": \([0-9]*\).*/\1/p')
	if [ "$n" != "$AUDIT_BENCH_KEYS" ]; then
		echo "the bench token has $n keys, not $AUDIT_BENCH_KEYS" >&2
		return 1
	fi
	touch "$AUDIT_BENCH_DIR/complete"
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
	local floor=$BENCH_DIR/p11floor t ours tool least least_all p11tool n peers base
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
	audit_baseline() { "$AUDIT_BENCH_BASELINE" --token pkcs11:token=audit audit --json; }

	# Every peer must really read the whole token before it is timed.
	n=$(audit_hsmcert | sed -n 's/.*"private_keys": \([0-9]*\).*/\1/p')
	[ "$n" = "$AUDIT_BENCH_KEYS" ] || { echo "audit: hsmcert saw $n keys" >&2; return 1; }
	n=$(audit_pkcs11_tool 2>/dev/null | grep -c '^Private Key Object')
	[ "$n" = "$AUDIT_BENCH_KEYS" ] || { echo "audit: pkcs11-tool saw $n keys" >&2; return 1; }
	n=$(audit_floor)
	[ "$n" = "$AUDIT_BENCH_KEYS" ] || { echo "audit: p11floor saw $n keys" >&2; return 1; }
	n=$(audit_floor_all)
	[ "$n" = $((AUDIT_BENCH_KEYS * 2)) ] || { echo "audit: p11floor saw $n objects" >&2; return 1; }

	echo "  token: $(audit_bench_name) ($((AUDIT_BENCH_KEYS * 2)) objects) in $AUDIT_BENCH_DIR"
	echo "  whole process, median of $runs interleaved runs (ms)"
	peers=(audit_hsmcert audit_pkcs11_tool audit_floor audit_floor_all)
	[ -n "${AUDIT_BENCH_BASELINE:-}" ] && peers+=(audit_baseline)
	mapfile -t t < <(interleaved_ms "$runs" "${peers[@]}")
	ours=${t[0]} tool=${t[1]} least=${t[2]} least_all=${t[3]} base=${t[4]:-}
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
	[ -n "$base" ] && audit_row "baseline $AUDIT_BENCH_BASELINE" "$base" \
		"baseline/hsmcert = $(ratio "$base" "$ours")"

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
