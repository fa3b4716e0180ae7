#!/usr/bin/env bash
# reproduce.sh: a thin wrapper kept for old command lines; the work is done by
# bench/reproduce.py (see its header and docs/results-layout.md).
#   bench/reproduce.sh [--dry-run] RESULT [-- EXTRA_WEFT_BENCH_ARGS...]
#   bench/reproduce.sh --judge-only RECORDED NEW
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "${WEFT_PYTHON:-${PYTHON:-/usr/bin/python3}}" "$here/reproduce.py" "$@"
