# shellcheck shell=bash
# audit of the 2,000-key-pair token of audit.sh served remotely: `p11-kit
# server` on a Unix socket, p11-kit-client.so on this side, as a remote HSM is
# reached. Every PKCS#11 call is then a round trip, so the number of calls per
# object matters as much as the time: both are measured, the calls with
# pkcs11-spy (opensc) between the tool and the client module.

# rpc_audit_calls LOG: PKCS#11 calls in a pkcs11-spy log.
rpc_audit_calls() {
	grep -c '^[0-9]*: C_' "$1"
}

bench_rpc_audit() {
	audit_bench_token
	local conf=$AUDIT_BENCH_DIR/softhsm2.conf runs=${AUDIT_BENCH_RUNS:-7}
	local sock=$BENCH_DIR/rpc.sock client=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
	local spy=/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so pid t ours tool n
	local objects=$((AUDIT_BENCH_KEYS * 2))

	SOFTHSM2_CONF=$conf p11-kit server -f -n "$sock" --provider "$MODULE" \
		"pkcs11:token=audit" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 1 200); do [ -S "$sock" ] && break; sleep 0.05; done
	[ -S "$sock" ] || { echo "rpc_audit: p11-kit server did not start" >&2; kill "$pid"; return 1; }
	local -x P11_KIT_SERVER_ADDRESS=unix:path=$sock

	rpc_hsmcert() { "$HSMCERT" --module "$client" --token pkcs11:token=audit audit --json; }
	rpc_pkcs11_tool() {
		pkcs11-tool --module "$client" --token-label audit --login --pin "$PIN" --list-objects
	}
	n=$(rpc_hsmcert | sed -n 's/.*"private_keys": \([0-9]*\).*/\1/p')
	[ "$n" = "$AUDIT_BENCH_KEYS" ] || { echo "rpc_audit: hsmcert saw $n keys" >&2; kill "$pid"; return 1; }
	n=$(rpc_pkcs11_tool 2>/dev/null | grep -c '^Private Key Object')
	[ "$n" = "$AUDIT_BENCH_KEYS" ] || { echo "rpc_audit: pkcs11-tool saw $n keys" >&2; kill "$pid"; return 1; }

	echo "  token: $AUDIT_BENCH_KEYS RSA-2048 key pairs ($objects objects) over p11-kit RPC ($sock)"
	echo "  whole process, median of $runs interleaved runs (ms)"
	mapfile -t t < <(interleaved_ms "$runs" rpc_hsmcert rpc_pkcs11_tool)
	ours=${t[0]} tool=${t[1]}
	audit_row "hsmcert audit --json" "$ours"
	audit_row "pkcs11-tool --list-objects --login" "$tool" \
		"pkcs11-tool/hsmcert = $(ratio "$tool" "$ours") (target >= 5)"

	echo "  PKCS#11 calls (pkcs11-spy between the tool and p11-kit-client.so)"
	PKCS11SPY=$client PKCS11SPY_OUTPUT=$BENCH_DIR/spy-ours.log \
		"$HSMCERT" --module "$spy" --token pkcs11:token=audit audit --json >/dev/null
	PKCS11SPY=$client PKCS11SPY_OUTPUT=$BENCH_DIR/spy-tool.log \
		pkcs11-tool --module "$spy" --token-label audit --login --pin "$PIN" \
		--list-objects >/dev/null 2>&1
	ours=$(rpc_audit_calls "$BENCH_DIR/spy-ours.log")
	tool=$(rpc_audit_calls "$BENCH_DIR/spy-tool.log")
	audit_row "hsmcert audit --json" "$ours" \
		"$(awk -v c="$ours" -v o="$objects" 'BEGIN{printf "%.2f", c/o}') calls per object (target ~1)"
	audit_row "pkcs11-tool --list-objects --login" "$tool" \
		"$(awk -v c="$tool" -v o="$objects" 'BEGIN{printf "%.2f", c/o}') calls per object"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}
