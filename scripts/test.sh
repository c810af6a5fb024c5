#!/usr/bin/env bash
# Install what is missing, build, and run every test against real SoftHSM2 tokens.
# The suite runs under AddressSanitizer and UndefinedBehaviorSanitizer.
# Ends with ctest's summary; exit status is ctest's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

export HSMCERT_BUILD_DIR=${HSMCERT_BUILD_DIR:-build-test}
scripts/build.sh -DBUILD_TESTING=ON -DHSMCERT_SANITIZE=ON -DHSMCERT_WERROR=ON

# p11-kit, SoftHSM2 and OpenSSL keep process-lifetime allocations; leaks of ours still fail.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/support/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

cd "$HSMCERT_BUILD_DIR"
ctest -j2 --output-on-failure --timeout 900
