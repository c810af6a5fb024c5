#!/usr/bin/env bash
# Runs shellcheck over every shell script of the project (scripts/, tests/, .ci/run).
# Sourced fragments (scripts/demo.d, scripts/bench.d) say so in a directive.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.sh' .ci/run contrib/bash-completion | sort -u)
[ ${#files[@]} -gt 0 ] || { echo "check-shell: no scripts found" >&2; exit 1; }
shellcheck --external-sources "${files[@]}"
echo "check-shell: ${#files[@]} scripts ok"
