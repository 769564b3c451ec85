#!/usr/bin/env bash
# The canary scan: tests plant CANARY-s3cr3t in every secret-bearing parameter, so the word must
# appear in nothing the code under test printed or logged. Scans each file or directory given
# (recursively, binary files included) and names every file that holds it.
#
# Exit codes: 0 clean; 1 a canary was found; 2 nothing to scan (no argument, a path that does
# not exist, or an empty directory): a scan of nothing would prove nothing.
set -uo pipefail

CANARY='CANARY-s3cr3t'

if [ "$#" -eq 0 ]; then
  echo "usage: canary_scan.sh FILE_OR_DIR..." >&2
  exit 2
fi
for path in "$@"; do
  if [ ! -e "$path" ]; then
    echo "canary scan: $path does not exist" >&2
    exit 2
  fi
  if [ -d "$path" ] && [ -z "$(find "$path" -type f -print -quit)" ]; then
    echo "canary scan: $path holds no file: nothing was captured" >&2
    exit 2
  fi
done

found=$(grep -rlaF -- "$CANARY" "$@")
status=$?
if [ "$status" -eq 0 ]; then
  echo "a canary secret appears in:" >&2
  printf '%s\n' "$found" | sed 's/^/  /' >&2
  exit 1
fi
if [ "$status" -ne 1 ]; then
  echo "canary scan: grep failed ($status)" >&2
  exit 2
fi
exit 0
