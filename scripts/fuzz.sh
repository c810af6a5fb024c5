#!/usr/bin/env bash
# libFuzzer runs of the parsers' targets in tests/fuzz/ (tests/fuzz/README.md).
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]
#       one target for SECONDS; new coverage is kept in tests/fuzz/corpus/TARGET/
#       (review and commit what is worth keeping: small files only)
#   scripts/fuzz.sh --all SECONDS
#       every target SECONDS each over its corpus, nothing written to the tree;
#       fails on the first crash, leak, sanitizer report or timeout (ctest label fuzz)
#   scripts/fuzz.sh --seeds
#       rewrite the generated seeds (hsmb)
#
# The targets are built with clang (ASan, UBSan, libFuzzer) into
# $HSMCERT_FUZZ_BUILD_DIR (default build-fuzz), incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${HSMCERT_FUZZ_BUILD_DIR:-build-fuzz}
corpus=$src/tests/fuzz/corpus

build_targets() {
	CC=clang cmake -S "$src" -B "$build" -DHSMCERT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		>/dev/null
	cmake --build "$build" -j"$(nproc)" >/dev/null
}

targets() {
	for f in "$src"/tests/fuzz/fuzz_*.c; do
		t=$(basename "$f" .c)
		echo "${t#fuzz_}"
	done
}

# p11-kit, OpenSSL and libidn2 keep process-lifetime allocations; ours still fail.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/support/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run() { # TARGET SECONDS WORKDIR [options]: runs, prints "TARGET: N executions"
	local t=$1 secs=$2 work=$3
	shift 3
	mkdir -p "$corpus/$t" "$work/artifacts"
	local log=$work/$t.log status=0
	# The targets' scratch files (fuzz_file) go to the work folder, removed afterwards.
	TMPDIR=$work "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" "$@" \
		"$work/new-$t" "$corpus/$t" >"$log" 2>&1 || status=$?
	local execs
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ "$status" -ne 0 ]; then
		echo "fuzz_$t: FAILED (exit $status); input and log under $work" >&2
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" >&2 || tail -20 "$log" >&2
		return 1
	fi
	echo "fuzz_$t: ${execs:-?} executions in ${secs}s, corpus $(find "$corpus/$t" -maxdepth 1 -type f | wc -l) files"
}

case "${1:-}" in
--seeds)
	build_targets
	mkdir -p "$corpus/hsmb"
	HSMCERT_FUZZ_WRITE_SEEDS=$corpus/hsmb "$build/tests/fuzz/fuzz_hsmb"
	;;
--all)
	secs=${2:?seconds per target}
	build_targets
	work=$(mktemp -d "${TMPDIR:-/tmp}/hsmcert-fuzz.XXXXXX")
	failed=0
	for t in $(targets); do
		mkdir -p "$work/new-$t"
		run "$t" "$secs" "$work" || failed=1
	done
	[ "$failed" -eq 0 ] && rm -rf "$work"
	exit "$failed"
	;;
""|-h|--help)
	sed -n '2,15p' "$0"
	exit 2
	;;
*)
	t=$1
	secs=${2:?seconds}
	shift 2
	[ -f "$src/tests/fuzz/fuzz_$t.c" ] || { echo "no target $t (tests/fuzz/fuzz_$t.c)" >&2; exit 2; }
	build_targets
	work=$(mktemp -d "${TMPDIR:-/tmp}/hsmcert-fuzz.XXXXXX")
	# New coverage goes straight into the tree's corpus, minimised later by hand if needed.
	mkdir -p "$corpus/$t"
	ln -s "$corpus/$t" "$work/new-$t"
	run "$t" "$secs" "$work" "$@"
	rm -rf "$work"
	;;
esac
