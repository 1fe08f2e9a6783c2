#!/usr/bin/env bash
# bench-server-profile: where nats-server spends its CPU when natscli's fast
# batch publisher feeds it, and when the logger does, on one server process.
#
# Starts nats-server (-js, file storage, pprof on a local port), then per
# round runs `nats bench js pub fast --dedup --batch=2000
# --max-outstanding-acks=2` (512 B, 100,000 subjects) and the logger's
# BenchmarkSustained512B/logger with as many events, each on a fresh
# stream. For each run it prints the server's CPU (user+system ticks of
# /proc/PID/stat, per message) over the run's wall time and the client's
# rate, and, unless NOPROF is set, takes a PSECS-second CPU profile of the
# server PDELAY seconds into the run (prof.natscli.R, prof.logger.R in OUT;
# read them with `go tool pprof -top -cum NATS_SERVER_BIN FILE`). The
# profile costs the server some CPU; compare runs with NOPROF=1 for rates.
#
# Usage: scripts/bench-server-profile.sh NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]
#   env: OUT (default a temporary directory, printed), PDELAY (3), PSECS (4),
#        NOPROF, PROFILE_PORT (6061)
set -euo pipefail

server_bin=${1:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]}
nats_bin=${2:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]}
msgs=${3:-600000}
rounds=${4:-2}
port=${PROFILE_PORT:-6061}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/naq-server-profile.XXXXXX")}
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/naq-server-profile-work.XXXXXX")
# shellcheck source=scripts/lib-server.sh
source "$(dirname "$0")/lib-server.sh"

echo "# $(go version), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); profiles in $out"
(cd "$root/test" && go test -c -o "$work/loggerjs.test" ./loggerjs/)
"$server_bin" -a 127.0.0.1 -p -1 -js -sd "$work/store" --ports_file_dir "$work" --profile "$port" \
	>"$work/server.log" 2>&1 &
server_pid=$!
deadline=$((SECONDS + 20))
until [[ -s $work/nats-server_${server_pid}.ports ]] && grep -q 'nats://' "$work/nats-server_${server_pid}.ports"; do
	if ! kill -0 "$server_pid" 2>/dev/null || ((SECONDS > deadline)); then
		echo "bench-server-profile: nats-server did not start:" >&2
		cat "$work/server.log" >&2
		exit 1
	fi
	sleep 0.1
done
NAQ_BENCH_NATS_URL=$(grep -o 'nats://[^"]*' "$work/nats-server_${server_pid}.ports" | sed -n 1p)
export NAQ_BENCH_NATS_URL
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }

for ((r = 1; r <= rounds; r++)); do
	for what in natscli logger; do
		c0=$(cpu)
		t0=$(date +%s.%N)
		if [[ $what == natscli ]]; then
			"$nats_bin" --server="$NAQ_BENCH_NATS_URL" --no-context bench js pub fast --dedup --batch=2000 \
				--max-outstanding-acks=2 --create --purge --size=512B --msgs="$msgs" --multisubject \
				--multisubjectmax=100000 --storage=file --no-progress --stream=naq-bench-baseline naq.bench \
				>"$work/out" 2>&1 &
		else
			"$work/loggerjs.test" -test.run '^$' -test.bench 'Sustained512B/^logger$' \
				-test.benchtime="${msgs}x" >"$work/out" 2>&1 &
		fi
		client=$!
		if [[ -z ${NOPROF:-} ]]; then
			sleep "${PDELAY:-3}"
			curl -s "localhost:$port/debug/pprof/profile?seconds=${PSECS:-4}" >"$out/prof.$what.$r"
		fi
		wait "$client" || { cat "$work/out" >&2; exit 1; }
		c1=$(cpu)
		t1=$(date +%s.%N)
		rate=$(sed -n 's/.*publisher stats: \([0-9,]*\) msgs\/sec.*/\1/p' "$work/out" | tr -d ,)
		[[ -n $rate ]] || rate=$(awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "events/s") print $i }' "$work/out")
		awk -v w="$what" -v r="$r" -v c="$((c1 - c0))" -v hz="$ticks" -v t0="$t0" -v t1="$t1" -v n="$msgs" -v rate="$rate" \
			'BEGIN { printf "round %d %-7s %8s msgs/s; server %.1f us CPU per message, %.2f cores over %.2f s\n", r, w, rate, c / hz / n * 1e6, c / hz / (t1 - t0), t1 - t0 }'
		"$nats_bin" --server="$NAQ_BENCH_NATS_URL" --no-context stream rm -f naq-bench-baseline >/dev/null 2>&1 || true
	done
done
