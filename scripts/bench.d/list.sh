# shellcheck shell=bash disable=SC2154,SC2317 # $root etc. set by scripts/bench.sh; functions are run by name
# list of a token with thousands of objects: the audit benchmark's 2,000
# key pairs (shared cache, see audit.sh) copied once, with certificates
# imported for the first LIST_BENCH_CERTS keys. Against pkcs11-tool
# --list-objects --login and p11tool --list-all on the same token: whole
# process, median wall time, ratio.

LIST_BENCH_CERTS=${LIST_BENCH_CERTS:-100}

# list_bench_token: the cached copy with certificates, made once.
list_bench_token() {
	audit_bench_token
	LIST_BENCH_DIR=${LIST_BENCH_DIR:-$AUDIT_BENCH_DIR-list-$LIST_BENCH_CERTS}
	local dir=$LIST_BENCH_DIR conf=$LIST_BENCH_DIR/softhsm2.conf pki i label
	[ -f "$dir/complete" ] && return 0
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -r "$AUDIT_BENCH_DIR/tokens" "$dir/tokens"
	cat >"$conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
CONF
	echo "importing $LIST_BENCH_CERTS certificates into a copy of the audit token (once)" >&2
	pki=$dir/pki
	"$root/scripts/testpki.sh" mini "$pki"
	for ((i = 0; i < LIST_BENCH_CERTS; i++)); do
		label=$(printf 'key%05d' "$i")
		SOFTHSM2_CONF=$conf PIN=$PIN HSMCERT_SOFTHSM2_MODULE=$MODULE TESTPKI_TOKEN=audit \
			"$root/scripts/testpki.sh" leaf "$pki" "$label" "$pki/$label.crt" \
			now-1 now+365 "$label.example.test"
		SOFTHSM2_CONF=$conf "$HSMCERT" --token pkcs11:token=audit import \
			--cert "$pki/$label.crt" >/dev/null
	done
	touch "$dir/complete"
}

bench_list() {
	list_bench_token
	local conf=$LIST_BENCH_DIR/softhsm2.conf runs=${LIST_BENCH_RUNS:-7}
	local ours ours_text pkcs11_tool p11tool keys certs
	export SOFTHSM2_CONF=$conf

	keys=$("$HSMCERT" --token pkcs11:token=audit list --json | grep -c '"public_uri"' || true)
	certs=$("$HSMCERT" --token pkcs11:token=audit list --json | grep -c '"sha256"' || true)
	echo "token: $keys keys, $certs certificates (copy of the audit token in $LIST_BENCH_DIR)"

	list_json() { "$HSMCERT" --token pkcs11:token=audit list --json; }
	list_text() { "$HSMCERT" --token pkcs11:token=audit list; }
	list_pkcs11_tool() {
		pkcs11-tool --module "$MODULE" --token-label audit --login --pin "$PIN" --list-objects
	}
	local t
	mapfile -t t < <(interleaved_ms "$runs" list_json list_text list_pkcs11_tool)
	ours=${t[0]} ours_text=${t[1]} pkcs11_tool=${t[2]}
	printf '%-44s %10s ms\n' "hsmcert list --json (median of $runs interleaved)" "$ours"
	printf '%-44s %10s ms\n' "hsmcert list (text)" "$ours_text"
	printf '%-44s %10s ms\n' "pkcs11-tool --list-objects --login" "$pkcs11_tool"
	if [ "${LIST_BENCH_P11TOOL:-1}" = 1 ]; then
		# A login and search per object: minutes. Once, not a median.
		p11tool=$(median_ms 1 env GNUTLS_PIN="$PIN" p11tool --provider "$MODULE" --login \
			--list-all "pkcs11:token=audit")
		printf '%-44s %10s ms\n' "p11tool --list-all --login (once)" "$p11tool"
	fi
	echo "ratio pkcs11-tool / hsmcert list: $(ratio "$pkcs11_tool" "$ours")x"
	[ -n "${p11tool:-}" ] && echo "ratio p11tool / hsmcert list:     $(ratio "$p11tool" "$ours")x"
}
