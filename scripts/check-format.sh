#!/usr/bin/env bash
# Every C file of the project formatted as .clang-format says (clang-format --dry-run -Werror).
# Usage: scripts/check-format.sh [FILE...]   (default: every tracked .c and .h)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
	files=("$@")
else
	mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h')
fi
clang-format --dry-run -Werror --style=file "${files[@]}"
echo "check-format: ${#files[@]} files ok"
