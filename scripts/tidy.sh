#!/usr/bin/env bash
# Runs clang-tidy 22 with the project's .clang-tidy over the given sources, or
# over every .cpp that git tracks, using build/compile_commands.json (run
# scripts/build.sh first). Prints the findings; exits 1 when there are any.
#   scripts/tidy.sh [file.cpp ...]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tidy="${CLANG_TIDY:-$(command -v clang-tidy-22 || echo /usr/lib/llvm-22/bin/clang-tidy)}"
if [ ! -x "$(command -v "$tidy")" ]; then
  echo "tidy: clang-tidy 22 not found (apt-get install clang-tidy-22)" >&2
  exit 2
fi
if [ ! -f "$root/build/compile_commands.json" ]; then
  echo "tidy: build/compile_commands.json is missing: run scripts/build.sh first" >&2
  exit 2
fi
if (($#)); then
  files=("$@")
else
  mapfile -t files < <(git -C "$root" ls-files '*.cpp' | grep -v '^tests/consumer/' | sed "s|^|$root/|")
fi
printf '%s\n' "${files[@]}" |
  xargs -P "$(nproc)" -n 4 "$tidy" -p "$root/build" --quiet 2>/dev/null |
  grep -E "(warning|error):" | sort -u > /tmp/tessera-tidy.$$
count=$(wc -l < /tmp/tessera-tidy.$$)
cat /tmp/tessera-tidy.$$
rm -f /tmp/tessera-tidy.$$
echo "tidy: $count finding(s) in ${#files[@]} file(s)"
((count == 0))
