# shellcheck shell=bash disable=SC2154,SC2317 # $root etc. set by scripts/bench.sh; functions are run by name
# audit of the 2,000-key-pair token of audit.sh served remotely: `p11-kit
# server` on a Unix socket, p11-kit-client.so on this side, as a remote HSM is
# reached. Every PKCS#11 call is then a round trip, so the number of calls per
# object matters as much as the time: both are measured, the calls with
# pkcs11-spy (opensc) between the tool and the client module.
#
# The peer is pkcs11-tool asked for the same listing: every object of the
# token, logged in (`--list-objects --login`), through the same client
# module and socket. The floor (p11floor.c, "all") is one search and one
# C_GetAttributeValue per object, nothing else. Runs are interleaved
# (hsmcert, pkcs11-tool, floor, hsmcert, ...), a warm-up round not counted,
# and the medians compared. AUDIT_BENCH_BASELINE=/path/to/hsmcert adds
# another hsmcert build (say main's) to the same rounds.

# rpc_audit_calls LOG: PKCS#11 calls in a pkcs11-spy log.
rpc_audit_calls() {
	grep -c '^[0-9]*: C_' "$1"
}

# rpc_audit_by_function LOG: "C_GetAttributeValue 4000, C_FindObjects 2, ..."
# for the functions called most.
rpc_audit_by_function() {
	grep -o '^[0-9]*: C_[A-Za-z]*' "$1" | sed 's/^[0-9]*: //' | sort | uniq -c |
		sort -rn | head -4 | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}'
}

# rpc_audit_per_object CALLS OBJECTS
rpc_audit_per_object() {
	awk -v c="$1" -v o="$2" 'BEGIN{printf "%.2f", c/o}'
}

bench_rpc_audit() {
	audit_bench_token
	local conf=$AUDIT_BENCH_DIR/softhsm2.conf runs=${AUDIT_BENCH_RUNS:-7}
	local sock=$BENCH_DIR/rpc.sock client=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
	local spy=/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so pid t ours tool least base n
	local objects=$((AUDIT_BENCH_KEYS * 2)) floor=$BENCH_DIR/p11floor peers
	local baseline=${AUDIT_BENCH_BASELINE:-}

	# shellcheck disable=SC2046 # pkg-config's flags are words
	cc -O2 -Wall $(pkg-config --cflags p11-kit-1) -o "$floor" "$root/scripts/bench.d/p11floor.c" -ldl
	SOFTHSM2_CONF=$conf p11-kit server -f -n "$sock" --provider "$MODULE" \
		"pkcs11:token=audit" >/dev/null 2>&1 &
	pid=$!
	BENCH_PIDS+=" $pid"
	for _ in $(seq 1 200); do [ -S "$sock" ] && break; sleep 0.05; done
	[ -S "$sock" ] || { echo "rpc_audit: p11-kit server did not start" >&2; return 1; }
	local -x P11_KIT_SERVER_ADDRESS=unix:path=$sock

	rpc_hsmcert() { "$HSMCERT" --module "$client" --token pkcs11:token=audit audit --json; }
	rpc_baseline() { "$baseline" --module "$client" --token pkcs11:token=audit audit --json; }
	rpc_pkcs11_tool() {
		pkcs11-tool --module "$client" --token-label audit --login --pin "$PIN" --list-objects
	}
	rpc_floor() { "$floor" "$client" audit "$PIN" all; }

	# Every peer must really read the whole token before it is timed.
	n=$(rpc_hsmcert | sed -n 's/.*"private_keys": \([0-9]*\).*/\1/p')
	[ "$n" = "$AUDIT_BENCH_KEYS" ] || { echo "rpc_audit: hsmcert saw $n keys" >&2; return 1; }
	n=$(rpc_pkcs11_tool 2>/dev/null | grep -c '^Private Key Object')
	[ "$n" = "$AUDIT_BENCH_KEYS" ] || { echo "rpc_audit: pkcs11-tool saw $n keys" >&2; return 1; }
	n=$(rpc_floor)
	[ "$n" = "$objects" ] || { echo "rpc_audit: p11floor saw $n objects" >&2; return 1; }

	echo "  token: $(audit_bench_name) ($objects objects) over p11-kit RPC ($sock)"
	echo "  hsmcert:     hsmcert --module p11-kit-client.so --token pkcs11:token=audit audit --json"
	echo "  pkcs11-tool: pkcs11-tool --module p11-kit-client.so --token-label audit --login --pin ... --list-objects"
	echo "  whole process, median of $runs interleaved runs (ms)"
	peers=(rpc_hsmcert rpc_pkcs11_tool rpc_floor)
	[ -n "$baseline" ] && peers+=(rpc_baseline)
	mapfile -t t < <(interleaved_ms "$runs" "${peers[@]}")
	ours=${t[0]} tool=${t[1]} least=${t[2]} base=${t[3]:-}
	audit_row "hsmcert audit --json" "$ours"
	audit_row "pkcs11-tool --list-objects --login" "$tool" \
		"pkcs11-tool/hsmcert = $(ratio "$tool" "$ours") (target >= 5)"
	audit_row "floor: search all, one fetch per object" "$least" \
		"hsmcert/floor = $(ratio "$ours" "$least")"
	[ -n "$base" ] && audit_row "baseline $baseline" "$base" \
		"baseline/hsmcert = $(ratio "$base" "$ours")"

	echo "  PKCS#11 calls (pkcs11-spy between the tool and p11-kit-client.so; each one a round trip)"
	PKCS11SPY=$client PKCS11SPY_OUTPUT=$BENCH_DIR/spy-ours.log \
		"$HSMCERT" --module "$spy" --token pkcs11:token=audit audit --json >/dev/null
	PKCS11SPY=$client PKCS11SPY_OUTPUT=$BENCH_DIR/spy-tool.log \
		pkcs11-tool --module "$spy" --token-label audit --login --pin "$PIN" \
		--list-objects >/dev/null 2>&1
	ours=$(rpc_audit_calls "$BENCH_DIR/spy-ours.log")
	tool=$(rpc_audit_calls "$BENCH_DIR/spy-tool.log")
	audit_row "hsmcert audit --json" "$ours" \
		"$(rpc_audit_per_object "$ours" "$objects") calls per object (target ~1)"
	audit_row "" "" "$(rpc_audit_by_function "$BENCH_DIR/spy-ours.log")"
	audit_row "pkcs11-tool --list-objects --login" "$tool" \
		"$(rpc_audit_per_object "$tool" "$objects") calls per object"
	audit_row "" "" "$(rpc_audit_by_function "$BENCH_DIR/spy-tool.log")"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}
