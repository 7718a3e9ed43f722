#!/usr/bin/env bash
# Ledger benchmark: Coffer's audit ledger (internal/audit) against Tessera's
# POSIX driver, on this machine, in one run. Not part of the test suite; see
# bench/README.md ("Ledger: Coffer against Tessera").
#
#   bench/ledger.sh                          # defaults below, about 5 minutes
#   bench/ledger.sh -n 2000 -verify-n 20000  # quick run; flags go to the program
#
# The program is the separate Go module bench/ledger (it imports Tessera,
# which must not enter Coffer's go.mod). Ledgers go to a temporary directory
# under ${TMPDIR:-/tmp} (one disk for both systems), removed at the end.
# Output: the table on stdout, and bench/out/ledger-<UTC stamp>/ with
# results.jsonl, table.md and machine.txt.
#
# Environment: LEDGER_TIMEOUT (1800 s) bounds the whole run.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$BENCH_DIR/out/ledger-$STAMP"
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-ledgerbench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

{
	echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc:   $(nproc)"
	echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "disk:    $(df -hT "$WORK" | awk 'NR==2 {print $1 " " $2}')"
	echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
	echo "go:      $(go version)"
	echo "coffer:  $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
	echo "tessera: $(cd "$BENCH_DIR/ledger" && go list -m -f '{{.Version}}' github.com/transparency-dev/tessera)"
	echo "command: bench/ledger.sh $*"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

(cd "$BENCH_DIR/ledger" && go build -o "$WORK/ledgerbench" .)
timeout --kill-after=30 "${LEDGER_TIMEOUT:-1800}" \
	"$WORK/ledgerbench" -dir "$WORK/ledgers" -json "$OUT/results.jsonl" "$@" | tee "$OUT/table.md"

echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, after the run)" >>"$OUT/machine.txt"
echo
cat "$OUT/machine.txt"
echo "results kept in ${OUT#"$REPO"/}" >&2
