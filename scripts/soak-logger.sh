#!/usr/bin/env bash
# soak-logger: memory stays bounded. Runs test/soak (the logger with its
# defaults and a file spill, over the JetStream store) logging 512-byte
# events at RATE/s for DURATION against a nats-server process (loopback,
# -js, file storage in a temporary directory), stops the server at OUTAGE_AT
# for OUTAGE_LEN and starts it again on the same port and store, and samples
# the resident set size (VmRSS) of the logger process and of nats-server
# every second into soak.csv. At the end it prints the counters (every event
# stored once: stream_msgs = logged) and a table of the RSS per 30 s.
# It costs DURATION plus the drain of machine time (10 minutes by default).
# Usage: scripts/soak-logger.sh NATS_SERVER_BIN [DURATION_S] [RATE] [OUTAGE_AT_S] [OUTAGE_LEN_S] [OUT_DIR]
set -euo pipefail

server_bin=${1:?usage: $0 NATS_SERVER_BIN [DURATION_S] [RATE] [OUTAGE_AT_S] [OUTAGE_LEN_S] [OUT_DIR]}
duration=${2:-600}
rate=${3:-20000}
outage_at=${4:-240}
outage_len=${5:-30}
out=${6:-bench-results}

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work=$(mktemp -d "${TMPDIR:-/tmp}/naq-soak.XXXXXX")
mkdir -p "$out"
csv="$out/soak-$(date +%Y%m%d-%H%M%S).csv"
server_pid= soak_pid=
cleanup() {
	for p in $soak_pid $server_pid; do
		if kill -0 "$p" 2>/dev/null; then kill "$p"; wait "$p" 2>/dev/null || true; fi
	done
	rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_server() {
	"$server_bin" -a 127.0.0.1 -p "$port" -js -sd "$work/store" >>"$work/server.log" 2>&1 &
	server_pid=$!
	local deadline=$((SECONDS + 20))
	until (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		if ! kill -0 "$server_pid" 2>/dev/null || ((SECONDS > deadline)); then
			echo "soak: nats-server did not start:" >&2; cat "$work/server.log" >&2; exit 1
		fi
		sleep 0.1
	done
}
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

echo "# soak: $rate events/s for ${duration}s, server down from ${outage_at}s for ${outage_len}s; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$root/test" && go build -o "$work/soak" ./soak/)
start_server
"$work/soak" -url "nats://127.0.0.1:$port" -rate "$rate" -duration "${duration}s" -spill "$work/spill" >"$work/soak.out" 2>&1 &
soak_pid=$!

echo "t_s,logger_rss_kib,server_rss_kib,server" >"$csv"
t=0 down=0 t0=$SECONDS done_outage=0
while kill -0 "$soak_pid" 2>/dev/null; do
	t=$((SECONDS - t0)) # wall-clock seconds: a loaded machine stretches the sleeps
	if ((!done_outage && !down && t >= outage_at)); then
		kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid= down=1
	elif ((down && t >= outage_at + outage_len)); then
		start_server; down=0 done_outage=1
	fi
	srss=0
	[[ -n $server_pid ]] && srss=$(rss "$server_pid")
	echo "$t,$(rss "$soak_pid"),$srss,$([[ $down == 1 ]] && echo down || echo up)" >>"$csv"
	sleep 1
done
wait "$soak_pid" || { echo "soak: the logger process failed:" >&2; cat "$work/soak.out" >&2; exit 1; }
cat "$work/soak.out"
echo "# samples in $csv; RSS per 30 s (KiB, min-max):"
awk -F, 'NR > 1 && $2 > 0 { b = int($1 / 30); if (!(b in lmin) || $2 < lmin[b]) lmin[b] = $2; if ($2 > lmax[b]) lmax[b] = $2;
	if ($3 > 0 && (!(b in smin) || $3 < smin[b])) smin[b] = $3; if ($3 > smax[b]) smax[b] = $3; if ($4 == "down") d[b] = " (server down)"; n = b }
	END { printf "%-10s %-20s %-20s\n", "t", "logger", "nats-server"; for (b = 0; b <= n; b++) printf "%4d-%-5d %9d-%-10d %9d-%-10d%s\n", b * 30, b * 30 + 29, lmin[b], lmax[b], smin[b], smax[b], d[b] }' "$csv"
