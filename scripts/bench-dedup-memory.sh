#!/usr/bin/env bash
# bench-dedup-memory: what one Nats-Msg-Id in a stream's de-dup window costs
# nats-server in memory. For each N (default 500000 and 1000000) it starts a
# fresh nats-server process (the flags of scripts/bench-baseline.sh: loopback,
# random port, -js, file storage in a temporary directory), publishes N
# 16-byte messages with natscli `nats bench js pub async --batch=500
# --dedupwindow=1h`, once with --dedup (a Nats-Msg-Id on every message, all
# of them still in the window) and once without, waits for the server's
# block cache to expire, and reads the server's resident set size
# (VmRSS in /proc/PID/status, the smallest of 5 readings a second apart).
# The difference divided by N is the cost per id; the payload and the stream
# are the same in both runs. natscli's ids ("<22 chars>-0-<seq>", about 30
# bytes) are about as long as an event id (a 26-character ULID).
# Usage: scripts/bench-dedup-memory.sh NATS_SERVER_BIN NATS_CLI_BIN [N...]
set -euo pipefail

server_bin=${1:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [N...]}
nats_bin=${2:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [N...]}
shift 2
counts=("$@")
((${#counts[@]})) || counts=(500000 1000000)
settle=${NAQ_DEDUP_SETTLE_SECONDS:-15}

work=$(mktemp -d "${TMPDIR:-/tmp}/naq-dedup-mem.XXXXXX")
# shellcheck source=scripts/lib-server.sh
source "$(dirname "$0")/lib-server.sh"

start_server() {
	rm -rf "$work/store" "$work"/*.ports
	start_js_server
}

rss_kib() { # the smallest of 5 readings, a second apart
	local min=
	for _ in 1 2 3 4 5; do
		local v
		v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status")
		if [[ -z $min ]] || ((v < min)); then min=$v; fi
		sleep 1
	done
	echo "$min"
}

# measure N dedup|nodedup sets rss to the server's RSS in KiB. It runs in
# the script's own shell, not in $(...): a failure's exit there runs the
# EXIT trap, which stops the server (a subshell's exit would leak it).
measure() {
	local n=$1 mode=$2 flags=()
	[[ $mode == dedup ]] && flags=(--dedup)
	start_server
	"$nats_bin" --server="$url" --no-context bench js pub async "${flags[@]}" --create --dedupwindow=1h \
		--size=16B --msgs="$n" --batch=500 --multisubject --multisubjectmax=100000 \
		--storage=file --no-progress --stream=naq-dedup-mem naq.dedup >"$work/bench.out" 2>&1 ||
		{ cat "$work/bench.out" >&2; exit 1; }
	sleep "$settle" # the block cache expires; the ids stay for the window (1h)
	rss=$(rss_kib)
	stop_server
}

echo "# $("$server_bin" --version), natscli $("$nats_bin" --version), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# N, RSS with ids (KiB), RSS without (KiB), bytes per id"
for n in "${counts[@]}"; do
	measure "$n" dedup
	with=$rss
	measure "$n" nodedup
	without=$rss
	per=$(awk -v a="$with" -v b="$without" -v n="$n" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
	echo "$n $with $without $per"
	echo "dedup_bytes_per_id_$n=$per"
done
