#!/usr/bin/env bash
# Runs Coffer's whole test suite on a fresh Debian machine: installs the real
# S3 clients the tests drive (rclone, s3cmd, restic, aws-cli), fetches Go
# modules, vets, then runs `go test` over every package. Extra arguments go to
# `go test`. test/e2e also uses unshare, nsenter and mount (util-linux, always
# present on Debian) and, to mount a tmpfs, root.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for bin_pkg in rclone:rclone s3cmd:s3cmd restic:restic aws:awscli; do
	bin=${bin_pkg%%:*} pkg=${bin_pkg#*:}
	command -v "$bin" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "== installing ${need[*]} (Debian packages)"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== go modules"
go mod download

echo "== go vet"
go vet ./...

echo "== go test"
# COFFER_REAL_CLIENTS=1 makes the real-client tests fail instead of skip when
# rclone, s3cmd, restic or aws is missing.
export COFFER_REAL_CLIENTS=1
go test -count=1 -timeout 25m "$@" ./...
