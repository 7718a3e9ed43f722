#!/usr/bin/env bash
# Scan benchmark: `coffer scan` against gitleaks on a generated corpus with
# planted secrets, personal data and decoys, on this machine, in one run.
# Not part of the test suite; see bench/README.md ("Scan: Coffer against
# gitleaks").
#
#   bench/scan.sh                      # 1 GiB corpus, about 10 minutes
#   SCAN_SIZE=64MiB bench/scan.sh      # quick run
#
# Environment (all optional):
#   SCAN_SIZE         corpus size (1GiB); bytes or KiB/MiB/GiB
#   SCAN_SEED         corpus seed (1): same seed and size, same corpus
#   SCAN_REPEAT       runs of each tool; the table shows the median (1)
#   SCAN_CORPUS_DIR   keep the corpus here and reuse it when size and seed
#                     match (default: a temporary directory, removed)
#   GITLEAKS_VERSION  version for `go install github.com/zricethezav/gitleaks/v8@...` (latest)
#   SCAN_TIMEOUT      hard limit for the whole script, in seconds (3600)
set -euo pipefail

TIMEOUT=${SCAN_TIMEOUT:-3600}
if [[ -z ${COFFER_SCANBENCH_BOUNDED:-} ]]; then
	COFFER_SCANBENCH_BOUNDED=1 exec timeout --kill-after=30 "$TIMEOUT" bash "${BASH_SOURCE[0]}" "$@"
fi

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
cd "$REPO"

SIZE=${SCAN_SIZE:-1GiB}
SEED=${SCAN_SEED:-1}
REPEAT=${SCAN_REPEAT:-1}
GITLEAKS_VERSION=${GITLEAKS_VERSION:-latest}
BIN="$BENCH_DIR/.bin"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$BENCH_DIR/out/scan-$STAMP"
mkdir -p "$BIN" "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-scanbench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

log() { printf '[scan %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- tools
log "building coffer and scanbench"
go build -o "$WORK/coffer" ./cmd/coffer
go build -o "$WORK/scanbench" ./bench/scan
if [[ ! -x $BIN/gitleaks ]]; then
	log "installing gitleaks: go install github.com/zricethezav/gitleaks/v8@$GITLEAKS_VERSION"
	(cd "$WORK" && GOBIN="$BIN" GOFLAGS=-mod=mod go install "github.com/zricethezav/gitleaks/v8@$GITLEAKS_VERSION") \
		>"$BIN/gitleaks-install.log" 2>&1 || { log "gitleaks install failed: $(tail -n 1 "$BIN/gitleaks-install.log")"; exit 1; }
fi
GITLEAKS_VERSION_STR=$(go version -m "$BIN/gitleaks" | awk '$1 == "mod" { print $2 "@" $3 }')

# ---------------------------------------------------------------- corpus
CORPUS=${SCAN_CORPUS_DIR:-$WORK/corpus}
CORPUS=$(mkdir -p "$CORPUS" && cd "$CORPUS" && pwd)
MANIFEST="$CORPUS.manifest.jsonl"
STAMPFILE="$CORPUS.done"
if [[ -f $STAMPFILE && $(cat "$STAMPFILE") == "$SIZE $SEED" && -f $MANIFEST ]]; then
	log "reusing corpus $CORPUS ($SIZE, seed $SEED)"
else
	log "generating a $SIZE corpus (seed $SEED) in $CORPUS"
	rm -rf "$CORPUS" "$STAMPFILE"
	"$WORK/scanbench" gen -out "$CORPUS" -manifest "$MANIFEST" -size "$SIZE" -seed "$SEED" | tee "$OUT/corpus.txt" >&2
	echo "$SIZE $SEED" >"$STAMPFILE"
fi
BYTES=$(find "$CORPUS" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
FILES=$(find "$CORPUS" -type f | wc -l)
cp "$MANIFEST" "$OUT/manifest.jsonl"

{
	echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc:    $(nproc)"
	echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "memory:   $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the runs)"
	echo "go:       $(go version)"
	echo "coffer:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
	echo "gitleaks: $GITLEAKS_VERSION_STR"
	echo "corpus:   $FILES files, $BYTES bytes (SCAN_SIZE=$SIZE SCAN_SEED=$SEED)"
	echo "command:  SCAN_SIZE=$SIZE SCAN_SEED=$SEED SCAN_REPEAT=$REPEAT bench/scan.sh"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# Both tools read the corpus from the page cache.
log "warming the page cache"
find "$CORPUS" -type f -exec cat {} + >/dev/null

# ---------------------------------------------------------------- runs
# timed TOOL REP CMD...: run CMD under /usr/bin/time -v; one JSON line to results.jsonl.
timed() {
	local tool=$1 rep=$2
	shift 2
	log "$tool (run $rep): $*"
	local rc=0
	/usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/$tool.out" 2>"$WORK/$tool.err" || rc=$?
	# 0: nothing found, 1: findings (both tools); anything else failed.
	if ((rc > 1)); then
		log "$tool failed (exit $rc): $(tail -n 3 "$WORK/$tool.err")"
	fi
	awk -v tool="$tool" -v rep="$rep" -v rc="$rc" -v bytes="$BYTES" '
		/Elapsed \(wall clock\)/ { n = split($NF, t, ":"); wall = 0; for (i = 1; i <= n; i++) wall = wall * 60 + t[i] }
		/User time \(seconds\)/ { user = $NF }
		/System time \(seconds\)/ { sys = $NF }
		/Maximum resident set size/ { rss = $NF }
		END { printf "{\"tool\":\"%s\",\"rep\":%d,\"exit\":%d,\"seconds\":%.2f,\"mb_per_s\":%.2f,\"cpu_s\":%.2f,\"peak_rss_mib\":%.1f}\n",
			tool, rep, rc, wall, bytes / 1e6 / wall, user + sys, rss / 1024 }' "$WORK/time.txt" | tee -a "$OUT/results.jsonl" >&2
}
: >"$OUT/results.jsonl"
for rep in $(seq "$REPEAT"); do
	timed gitleaks "$rep" "$BIN/gitleaks" dir "$CORPUS" --report-format json --report-path "$OUT/gitleaks.json" --no-banner --log-level error
	timed coffer "$rep" "$WORK/coffer" scan "$CORPUS" --format json --output "$OUT/coffer.json" --progress never
done

# ---------------------------------------------------------------- table
med() { # med TOOL FIELD: median over the runs
	jq -rs --arg t "$1" --arg f "$2" '[.[] | select(.tool == $t and .exit <= 1) | .[$f]] | sort
		| if length == 0 then "n/a" else .[(length - 1) / 2 | floor] end' "$OUT/results.jsonl"
}
runs() {
	jq -rs --arg t "$1" --arg f "$2" '[.[] | select(.tool == $t) | .[$f] | tostring] | join(" / ")' "$OUT/results.jsonl"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
{
	echo "| metric | Coffer | gitleaks | Coffer/gitleaks | Coffer, each run | gitleaks, each run |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	for m in "throughput MB/s:mb_per_s" "wall s:seconds" "CPU s (user+sys):cpu_s" "peak RSS MiB:peak_rss_mib"; do
		name=${m%%:*} f=${m#*:}
		c=$(med coffer "$f") g=$(med gitleaks "$f")
		echo "| $name | $c | $g | $(ratio "$c" "$g") | $(runs coffer "$f") | $(runs gitleaks "$f") |"
	done
	echo
	echo "Corpus: $FILES files, $BYTES bytes; MB = 10^6 bytes. Recall and precision by line against the manifest:"
	echo
	"$WORK/scanbench" score -manifest "$MANIFEST" -root "$CORPUS" -gitleaks "$OUT/gitleaks.json" -coffer "$OUT/coffer.json" -json "$OUT/scores.json"
} >"$OUT/table.md"

echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, after the runs)" >>"$OUT/machine.txt"
echo
cat "$OUT/machine.txt"
echo
cat "$OUT/table.md"
log "results kept in ${OUT#"$REPO"/} (machine.txt, table.md, results.jsonl, scores.json, both reports, manifest)"
