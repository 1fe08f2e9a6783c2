#!/usr/bin/env bash
# ensure-docker.sh: make sure a Docker engine answers `docker info`. When none
# does, install Debian's docker.io if needed and start dockerd in the
# background (log in $DOCKERD_LOG), polling until it answers; exit non-zero,
# with the daemon's last log lines, when it cannot be started.
# DOCKERD_ARGS adds arguments to dockerd (e.g. -H/--data-root for a second
# daemon); DOCKERD_WAIT_SECONDS bounds each attempt.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/tmp/naq-events-dockerd.log}
DOCKERD_WAIT_SECONDS=${DOCKERD_WAIT_SECONDS:-60}

# wait_for_docker PID SECONDS: poll `docker info` until it answers, the
# daemon PID exits, or the deadline passes.
wait_for_docker() {
	local pid=$1 deadline=$((SECONDS + $2))
	until docker info >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "dockerd exited" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			echo "dockerd did not answer within $2s" >&2
			return 1
		fi
		sleep 0.5
	done
}

ensure_docker() {
	if docker info >/dev/null 2>&1; then
		echo "docker engine: $(docker info --format '{{.ServerVersion}} ({{.Driver}})')"
		return
	fi
	echo "no Docker engine answers; starting one"
	if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update
		apt-get install -y docker.io fuse-overlayfs
	fi
	# The daemon's own config (/etc/docker/daemon.json) wins; without one,
	# try the default storage driver, then the ones that work nested.
	local drivers=("")
	if [[ ! -f /etc/docker/daemon.json ]]; then
		drivers+=(fuse-overlayfs vfs)
	fi
	local driver
	for driver in "${drivers[@]}"; do
		local args=()
		if [[ -n ${DOCKERD_ARGS:-} ]]; then
			read -r -a extra <<<"$DOCKERD_ARGS"
			args+=("${extra[@]}")
		fi
		if [[ -n $driver ]]; then
			args+=("--storage-driver=$driver")
		fi
		echo "starting dockerd ${args[*]} (log: $DOCKERD_LOG)"
		# Left running on purpose: tests use it, and the machine is
		# discarded after CI.
		nohup dockerd "${args[@]}" >>"$DOCKERD_LOG" 2>&1 &
		local pid=$!
		if wait_for_docker "$pid" "$DOCKERD_WAIT_SECONDS"; then
			echo "docker engine: $(docker info --format '{{.ServerVersion}} ({{.Driver}})')"
			return
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	echo "FATAL: could not start a Docker engine; the integration tests need one. Last lines of $DOCKERD_LOG:" >&2
	tail -n 40 "$DOCKERD_LOG" >&2 || true
	exit 1
}

ensure_docker
