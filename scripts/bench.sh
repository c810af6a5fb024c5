#!/usr/bin/env bash
# Benchmarks (never tests): hsmcert against the peers a user would otherwise
# chain together, on the same SoftHSM2 token in the same run. Whole-process
# wall time, median of repeated runs, printed as ratios (hsmcert / peer).
#
# Each scripts/bench.d/*.sh defines one bench_NAME function; run them all, or
# name some: scripts/bench.sh csr audit
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/deps.sh
HSMCERT_BUILD_DIR=build-bench scripts/build.sh -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
export HSMCERT="$root/build-bench/hsmcert"
# shellcheck source=scripts/softhsm2-module.sh
. scripts/softhsm2-module.sh
MODULE=$(softhsm2_module)

# A fresh SoftHSM2 world for the run.
BENCH_DIR=$(mktemp -d /tmp/hsmcert-bench.XXXXXX)
# Daemons a bench starts (BENCH_PIDS+=" $!") are stopped however the run ends.
BENCH_PIDS=
bench_cleanup() {
	local p
	for p in $BENCH_PIDS; do kill "$p" 2>/dev/null || true; done
	rm -rf "$BENCH_DIR"
}
trap bench_cleanup EXIT
mkdir -p "$BENCH_DIR/tokens"
cat >"$BENCH_DIR/softhsm2.conf" <<CONF
directories.tokendir = $BENCH_DIR/tokens
objectstore.backend = file
log.level = ERROR
CONF
export SOFTHSM2_CONF="$BENCH_DIR/softhsm2.conf"
export MODULE HSMCERT_MODULE=$MODULE
export PIN=1234 SO_PIN=12345678 HSMCERT_PIN=1234

# median_of_us MICROSECONDS...: their median in milliseconds.
median_of_us() {
	printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f\n", m/1000}'
}

# median_ms RUNS CMD...: median wall time of the command in milliseconds.
median_ms() {
	local runs=$1 times=() t0 t1
	shift
	for _ in $(seq "$runs"); do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1
		t1=$(date +%s%N)
		times+=($(((t1 - t0) / 1000)))
	done
	median_of_us "${times[@]}"
}

# interleaved_ms RUNS FUNCTION...: each function's median wall time in ms, one
# line each, in the order given. The runs rotate through the functions (a, b,
# c, a, b, c, ...) so that the load of a shared machine falls on every peer
# alike; a first warm-up round is not counted.
interleaved_ms() {
	local runs=$1 i f t0 t1
	shift
	local -A us=()
	for ((i = 0; i <= runs; i++)); do
		for f in "$@"; do
			t0=$(date +%s%N)
			"$f" >/dev/null 2>&1
			t1=$(date +%s%N)
			((i > 0)) && us[$f]+=" $(((t1 - t0) / 1000))"
		done
	done
	for f in "$@"; do
		# shellcheck disable=SC2086 # the list is split on purpose
		median_of_us ${us[$f]}
	done
}

# ratio A B: A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# new_token LABEL: initialise a token in the bench world.
new_token() {
	softhsm2-util --init-token --free --label "$1" --so-pin "$SO_PIN" --pin "$PIN" >/dev/null
}

for f in scripts/bench.d/*.sh; do
	# shellcheck source=/dev/null
	[ -e "$f" ] && . "$f"
done

want=("$@")
if [ ${#want[@]} -eq 0 ]; then
	mapfile -t want < <(declare -F | awk '{print $3}' | sed -n 's/^bench_//p' | sort)
fi
[ ${#want[@]} -gt 0 ] || { echo "no benchmarks defined yet"; exit 0; }
for b in "${want[@]}"; do
	echo "== $b"
	"bench_$b"
done
