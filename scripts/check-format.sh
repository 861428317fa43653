#!/usr/bin/env bash
# Fails, listing them, when C++ files are not as clang-format 22 (LLVM style,
# 100 columns: .clang-format) would write them. Without arguments it checks
# every C++ file git tracks; with arguments, those files.
#   scripts/check-format.sh [file ...]
#   scripts/check-format.sh --fix      rewrites the tracked files in place
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
clang_format="${CLANG_FORMAT:-$(command -v clang-format-22 || echo /usr/lib/llvm-22/bin/clang-format)}"
if ! "$clang_format" --version 2>/dev/null | grep -q "version 22\."; then
  echo "check-format: clang-format 22 not found (scripts/setup.sh installs clang-format-22)" >&2
  exit 2
fi
style="--style=file:$root/.clang-format"
fix=0
if [ "${1:-}" = --fix ]; then
  fix=1
  shift
fi
if (($#)); then
  files=("$@")
else
  mapfile -t files < <(git -C "$root" ls-files '*.cpp' '*.h' | sed "s|^|$root/|")
fi
if ((fix)); then
  "$clang_format" "$style" -i "${files[@]}"
  exit
fi
bad=()
for f in "${files[@]}"; do
  "$clang_format" "$style" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("${f#"$root"/}")
done
if ((${#bad[@]})); then
  echo "check-format: ${#bad[@]} file(s) not formatted (scripts/check-format.sh --fix):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} file(s) formatted"
