#!/usr/bin/env bash
# Whole-system benchmark: Coffer against MinIO (with SSE) on this machine, in one
# run, over TLS on 127.0.0.1 only. Not part of the test suite; see bench/README.md.
#
#   bench/run.sh                      # defaults: 1 GiB large rows, 20 s small rows, 1 repeat
#   BENCH_REPEAT=3 bench/run.sh       # median of 3 runs per row
#
# Environment (all optional):
#   BENCH_REPEAT          runs per row and target; the table shows the median (1)
#   BENCH_LARGE_SIZE      large object size (1GiB)
#   BENCH_SMALL_SIZE      small object size (4KiB)
#   BENCH_SMALL_WORKERS   small-object workers (16)
#   BENCH_SMALL_DURATION  time per small-object run (20s)
#   BENCH_SMALL_OBJECTS   objects written first for get-small (1000)
#   BENCH_TIMEOUT         hard limit for the whole script, in seconds (2400)
#   BENCH_SKIP_MINIO=1    run Coffer alone
#   BENCH_MINIO_SSE=off   run MinIO without its KMS (no encryption, but MD5 ETags
#                         like Coffer's: with SSE-KMS MinIO uses random ETags)
#   BENCH_SEAL_COUNT      -count for the internal/seal benchmarks; median shown (5)
#   BENCH_SKIP_SEAL=1     skip the internal/seal encryption-overhead benchmarks
#   BENCH_COFFER_SRC      source tree to build Coffer from (this repository); e.g. a
#                         worktree of another commit, to compare two versions
#   MINIO_VERSION         version or tag for `go install github.com/minio/minio@...` (latest)
set -euo pipefail

TIMEOUT=${BENCH_TIMEOUT:-2400}
# Bound the whole run: re-run this script under timeout(1), which signals the
# whole process group (servers, s3load, go test) when the time is up; the trap
# below then stops the servers and removes the temporary directory.
if [[ -z ${COFFER_BENCH_BOUNDED:-} ]]; then
	COFFER_BENCH_BOUNDED=1 exec timeout --kill-after=60 "$TIMEOUT" bash "${BASH_SOURCE[0]}" "$@"
fi

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
cd "$REPO"

REPEAT=${BENCH_REPEAT:-1}
LARGE_SIZE=${BENCH_LARGE_SIZE:-1GiB}
SMALL_SIZE=${BENCH_SMALL_SIZE:-4KiB}
SMALL_WORKERS=${BENCH_SMALL_WORKERS:-16}
SMALL_DURATION=${BENCH_SMALL_DURATION:-20s}
SMALL_OBJECTS=${BENCH_SMALL_OBJECTS:-1000}
SEAL_COUNT=${BENCH_SEAL_COUNT:-5}
MINIO_VERSION=${MINIO_VERSION:-latest}
# Tried when $MINIO_VERSION cannot be installed: the version RESULTS.md was
# measured with. MinIO's RELEASE.* tags are not semver, and the module proxy
# here refuses to resolve them, so pins are pseudo-versions.
MINIO_FALLBACKS=(v0.0.0-20260212201848-7aac2a2c5b7c)

BIN="$BENCH_DIR/.bin"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$BENCH_DIR/out/$STAMP"
mkdir -p "$BIN" "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-bench.XXXXXX")
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

PIDS=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for f in coffer.log minio.log; do
		# Keep no keys in the kept log tails, even of throwaway servers.
		[[ -f $WORK/$f ]] && tail -n 200 "$WORK/$f" | grep -viE 'secret|access key' >"$OUT/$f" || true
	done
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted or out of time (BENCH_TIMEOUT=${TIMEOUT}s): stopping"; exit 130' INT TERM

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	return 1
}

# wait_https URL CA SECONDS: wait until the TLS endpoint answers at all.
wait_https() {
	local url=$1 ca=$2 secs=$3
	for _ in $(seq $((secs * 5))); do
		if curl -s -o /dev/null --cacert "$ca" --max-time 2 "$url"; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# ---------------------------------------------------------------- build
log "building coffer and s3load"
COFFER_SRC=$(cd "${BENCH_COFFER_SRC:-$REPO}" && pwd)
(cd "$COFFER_SRC" && go build -o "$WORK/coffer" ./cmd/coffer)
go build -o "$WORK/s3load" ./bench/s3load

# ---------------------------------------------------------------- MinIO install
MINIO_STATUS=ok
install_minio() {
	local v
	for v in "$MINIO_VERSION" "${MINIO_FALLBACKS[@]}"; do
		log "installing MinIO: go install github.com/minio/minio@$v (log: $BIN/minio-install.log)"
		if (cd "$WORK" && GOBIN="$BIN" GOFLAGS=-mod=mod go install "github.com/minio/minio@$v") \
			>>"$BIN/minio-install.log" 2>&1; then
			return 0
		fi
		log "failed: $(tail -n 1 "$BIN/minio-install.log")"
	done
	return 1
}
if [[ ${BENCH_SKIP_MINIO:-} == 1 ]]; then
	MINIO_STATUS="skipped (BENCH_SKIP_MINIO=1)"
elif [[ ! -x $BIN/minio ]] && ! install_minio; then
	MINIO_STATUS="install failed: $(tail -n 1 "$BIN/minio-install.log")"
fi
MINIO_VERSION_STR=n/a
if [[ $MINIO_STATUS == ok ]]; then
	MINIO_VERSION_STR=$(go version -m "$BIN/minio" | awk '$1 == "mod" { print $2 "@" $3 }')
fi

# ---------------------------------------------------------------- machine
{
	echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc:   $(nproc)"
	echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "memory:  $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
	echo "go:      $(go version)"
	echo "coffer:  $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')$([[ $COFFER_SRC != "$REPO" ]] && echo " built from $COFFER_SRC")"
	echo "minio:   $MINIO_VERSION_STR"
	echo "command: $([[ $COFFER_SRC != "$REPO" ]] && echo "BENCH_COFFER_SRC=$COFFER_SRC ")BENCH_REPEAT=$REPEAT BENCH_LARGE_SIZE=$LARGE_SIZE BENCH_SMALL_SIZE=$SMALL_SIZE BENCH_SMALL_WORKERS=$SMALL_WORKERS BENCH_SMALL_DURATION=$SMALL_DURATION bench/run.sh"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# ---------------------------------------------------------------- seal overhead
# Run before the servers start, so they do not compete for the CPU.
SEAL_SUMMARY="not run"
if [[ ${BENCH_SKIP_SEAL:-} != 1 ]]; then
	log "encryption overhead: go test -run xxx -bench 'EncryptWriter|RawAESGCM' -count $SEAL_COUNT ./internal/seal/"
	if (cd "$COFFER_SRC" && timeout --foreground 600 go test -run xxx -bench 'EncryptWriter|RawAESGCM' -benchmem -count "$SEAL_COUNT" ./internal/seal/) >"$OUT/seal-bench.txt" 2>&1; then
		# Pair BenchmarkEncryptWriter[/sub] with BenchmarkRawAESGCM[/sub] by
		# sub-benchmark name and report EncryptWriter MB/s / RawAESGCM MB/s.
		SEAL_SUMMARY=$(awk '
			/^Benchmark(EncryptWriter|RawAESGCM)/ {
				name = $1; sub(/-[0-9]+$/, "", name)
				for (i = 2; i < NF; i++) if ($(i+1) == "MB/s") vals[name] = vals[name] " " $i
			}
			function median(list,    a, n, i, j, t) {
				n = split(list, a, " ")
				for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
				return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
			}
			END {
				n = 0
				for (name in vals) {
					if (name !~ /^BenchmarkEncryptWriter/) continue
					s = substr(name, length("BenchmarkEncryptWriter") + 1)
					other = "BenchmarkRawAESGCM" s
					if (!(other in vals)) continue
					e = median(vals[name]); r = median(vals[other])
					printf "| EncryptWriter%s vs RawAESGCM%s | %.0f MB/s | %.0f MB/s | %.2f |\n", s, s, e, r, e / r
					n++
				}
				if (n == 0) print "NOPAIR"
			}' "$OUT/seal-bench.txt" | sort)
		if [[ $SEAL_SUMMARY == NOPAIR || -z $SEAL_SUMMARY ]]; then
			SEAL_SUMMARY="no matching EncryptWriter/RawAESGCM pair with MB/s in the output (see seal-bench.txt)"
		fi
	else
		SEAL_SUMMARY="go test failed (see $OUT/seal-bench.txt): $(tail -n 1 "$OUT/seal-bench.txt")"
	fi
fi

# ---------------------------------------------------------------- Coffer
CPORT=$(free_port)
log "starting Coffer on 127.0.0.1:$CPORT"
# BENCH_COFFER_FLAGS adds serve flags, e.g. "--no-scan" to measure without upload scanning.
# shellcheck disable=SC2086
"$WORK/coffer" serve --data-dir "$WORK/coffer-data" --addr "127.0.0.1:$CPORT" --log-level warn ${BENCH_COFFER_FLAGS:-} \
	>"$WORK/coffer.log" 2>&1 &
PIDS+=($!)
COFFER_CRED="$WORK/coffer-data/credentials.json"
for _ in $(seq 300); do
	[[ -s $COFFER_CRED ]] && break
	sleep 0.2
done
if [[ ! -s $COFFER_CRED ]] || ! wait_https "$(jq -r .endpoint "$COFFER_CRED")" "$(jq -r .ca_file "$COFFER_CRED")" 60; then
	log "Coffer did not come up; its log:"
	tail -n 40 "$WORK/coffer.log" >&2
	exit 1
fi
COFFER_ARGS=(-label coffer -credentials "$COFFER_CRED")

# ---------------------------------------------------------------- MinIO
MINIO_ARGS=()
if [[ $MINIO_STATUS == ok ]]; then
	MPORT=$(free_port)
	MCPORT=$(free_port)
	CERTS="$WORK/minio-certs"
	mkdir -p "$CERTS"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-keyout "$CERTS/private.key" -out "$CERTS/public.crt" 2>/dev/null
	MINIO_USER=bench$(openssl rand -hex 4)
	MINIO_PASS=$(openssl rand -hex 16)
	MINIO_SSE_ENV=(MINIO_KMS_SECRET_KEY="bench-key:$(openssl rand -base64 32)" MINIO_KMS_AUTO_ENCRYPTION=on)
	if [[ ${BENCH_MINIO_SSE:-on} == off ]]; then
		MINIO_SSE_ENV=()
		log "starting MinIO on 127.0.0.1:$MPORT (TLS, no SSE: MD5 ETags)"
	else
		log "starting MinIO on 127.0.0.1:$MPORT (TLS, SSE via static KMS key, auto-encryption on)"
	fi
	env MINIO_ROOT_USER="$MINIO_USER" MINIO_ROOT_PASSWORD="$MINIO_PASS" "${MINIO_SSE_ENV[@]}" \
		MINIO_BROWSER=off MINIO_UPDATE=off \
		"$BIN/minio" server --quiet --anonymous --address "127.0.0.1:$MPORT" \
		--console-address "127.0.0.1:$MCPORT" --certs-dir "$CERTS" "$WORK/minio-data" \
		>"$WORK/minio.log" 2>&1 &
	PIDS+=($!)
	if wait_https "https://127.0.0.1:$MPORT/minio/health/live" "$CERTS/public.crt" 60; then
		MINIO_ARGS=(-label minio -endpoint "https://127.0.0.1:$MPORT" -access-key "$MINIO_USER"
			-secret-key "$MINIO_PASS" -ca "$CERTS/public.crt")
	else
		MINIO_STATUS="did not start: $(tail -n 3 "$WORK/minio.log" | tr '\n' ' ')"
		log "MinIO $MINIO_STATUS"
	fi
fi

# ---------------------------------------------------------------- rows
# run_row TARGET REP MODE ARGS...: one s3load run; its JSON line (or an error
# record) goes to $RESULTS.
run_row() {
	local target=$1 rep=$2 mode=$3
	shift 3
	local -a conn
	if [[ $target == coffer ]]; then conn=("${COFFER_ARGS[@]}"); else conn=("${MINIO_ARGS[@]}"); fi
	log "$target $mode (run $rep)"
	local line
	if line=$(timeout --foreground 900 "$WORK/s3load" "${conn[@]}" -bucket bench -mode "$mode" -timeout 14m "$@" 2>"$WORK/s3load.err"); then
		:
	fi
	if [[ -z $line ]]; then
		line=$(jq -cn --arg l "$target" --arg m "$mode" --arg e "$(tail -n 1 "$WORK/s3load.err")" \
			'{label: $l, mode: $m, ops: 0, first_error: $e}')
	fi
	jq -c --argjson rep "$rep" '. + {rep: $rep}' <<<"$line" | tee -a "$RESULTS" >&2
}

TARGETS=(coffer)
[[ ${#MINIO_ARGS[@]} -gt 0 ]] && TARGETS+=(minio)
for rep in $(seq "$REPEAT"); do
	for target in "${TARGETS[@]}"; do
		run_row "$target" "$rep" put-large -size "$LARGE_SIZE" -count 1
	done
	for target in "${TARGETS[@]}"; do
		run_row "$target" "$rep" get-large -size "$LARGE_SIZE" -count 1
	done
	for target in "${TARGETS[@]}"; do
		run_row "$target" "$rep" put-small -size "$SMALL_SIZE" -concurrency "$SMALL_WORKERS" -duration "$SMALL_DURATION"
	done
	for target in "${TARGETS[@]}"; do
		run_row "$target" "$rep" get-small -size "$SMALL_SIZE" -concurrency "$SMALL_WORKERS" -duration "$SMALL_DURATION" -objects "$SMALL_OBJECTS"
	done
done

# ---------------------------------------------------------------- table
# median MODE LABEL FIELD: median of FIELD over the successful runs, or "n/a".
median() {
	jq -rs --arg m "$1" --arg l "$2" --arg f "$3" '
		[.[] | select(.mode == $m and .label == $l and (.ops // 0) > 0) | .[$f]] | sort
		| if length == 0 then "n/a" else .[(length - 1) / 2 | floor] end' "$RESULTS"
}
# runs MODE LABEL FIELD: every run's FIELD, in order ("-" for a failed run).
runs() {
	jq -rs --arg m "$1" --arg l "$2" --arg f "$3" '
		[.[] | select(.mode == $m and .label == $l) | if (.ops // 0) > 0 then .[$f] | tostring else "-" end]
		| if length == 0 then "n/a" else join(" / ") end' "$RESULTS"
}
ratio() {
	if [[ $1 == n/a || $2 == n/a ]]; then echo n/a; else awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; fi
}
sse() {
	jq -rs --arg l "$1" '[.[] | select(.label == $l and .sse != null) | .sse] | unique
		| if length == 0 then "n/a" else join(", ") end' "$RESULTS"
}
errors_of() {
	jq -rs --arg l "$1" '[.[] | select(.label == $l) | (.errors // 0)] | add // "n/a"' "$RESULTS"
}

TABLE="$OUT/table.md"
{
	echo "| row | metric | Coffer | MinIO | Coffer/MinIO | Coffer, each run | MinIO, each run |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
	row() {
		local mode=$1 field=$2 desc=$3 metric=$4 c m
		c=$(median "$mode" coffer "$field")
		m=$(median "$mode" minio "$field")
		echo "| $desc | $metric | $c | $m | $(ratio "$c" "$m") | $(runs "$mode" coffer "$field") | $(runs "$mode" minio "$field") |"
	}
	row put-large mib_per_s "put-large ($LARGE_SIZE, 1 stream)" "MiB/s"
	row get-large mib_per_s "get-large ($LARGE_SIZE, 1 stream)" "MiB/s"
	row put-small ops_per_s "put-small ($SMALL_SIZE, $SMALL_WORKERS workers)" "ops/s"
	row put-small p50_ms "put-small" "p50 ms"
	row put-small p99_ms "put-small" "p99 ms"
	row get-small ops_per_s "get-small ($SMALL_SIZE, $SMALL_WORKERS workers)" "ops/s"
	row get-small p50_ms "get-small" "p50 ms"
	row get-small p99_ms "get-small" "p99 ms"
	echo
	echo "- Runs per row: $REPEAT; the Coffer and MinIO columns are medians (the lower one for an even count), each taken on its own."
	echo "- Failed operations: Coffer $(errors_of coffer), MinIO $(errors_of minio)."
	echo "- SSE reported by HEAD: Coffer: $(sse coffer); MinIO: $(sse minio)."
	echo "- MinIO: $MINIO_STATUS."
	echo
	echo "Coffer encryption overhead (\`go test -run xxx -bench 'EncryptWriter|RawAESGCM' -count $SEAL_COUNT ./internal/seal/\`, median, before the servers started):"
	echo
	if [[ $SEAL_SUMMARY == "|"* ]]; then
		echo "| benchmark pair | EncryptWriter | RawAESGCM | EncryptWriter/RawAESGCM |"
		echo "| --- | ---: | ---: | ---: |"
		echo "$SEAL_SUMMARY"
	else
		echo "$SEAL_SUMMARY"
	fi
} >"$TABLE"

echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, after the run)" >>"$OUT/machine.txt"
echo
cat "$OUT/machine.txt"
echo
cat "$TABLE"
echo
log "results kept in ${OUT#"$REPO"/} (results.jsonl, table.md, machine.txt, seal-bench.txt, server log tails)"
