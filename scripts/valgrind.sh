#!/usr/bin/env bash
# Run the test suite with every invocation of the hsmcert binary under
# valgrind memcheck (a plain build: valgrind and ASan do not mix).
# Any memory error or definite leak makes that run exit 99 and its test fail.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
export HSMCERT_BUILD_DIR=${HSMCERT_BUILD_DIR:-build-valgrind}
scripts/build.sh -DBUILD_TESTING=ON -DHSMCERT_SANITIZE=OFF
export HSMCERT_VALGRIND=1
cd "$HSMCERT_BUILD_DIR"
ctest -j2 --output-on-failure --timeout 1800 "$@"
