#!/usr/bin/env bash
# bench-client-cpu: the CPU each publisher and the server spend per message,
# natscli `bench js pub fast --dedup --batch=2000 --max-outstanding-acks=2`
# against the logger with its defaults (BenchmarkSustained512B/logger), on
# one nats-server process, MSGS 512-byte messages each, ROUNDS rounds.
#
# On a 2-core machine the client shares the cores with the server, so a
# client that needs more CPU per message could slow the server down. This
# measures whether it does: each run's client CPU (user + system of the
# publishing process, bash's `time`), the server's CPU over the run
# (/proc/PID/stat utime + stime) and the rate. Each run gets a fresh stream
# (natscli --create --purge, the benchmark deletes its stream before and
# after). The logger's process also builds its MSGS events before the
# timer starts; that is counted in its CPU, so its figure is an upper bound.
#
# Usage: scripts/bench-client-cpu.sh NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]
set -euo pipefail

server_bin=${1:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]}
nats_bin=${2:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]}
msgs=${3:-600000}
rounds=${4:-3}

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work=$(mktemp -d "${TMPDIR:-/tmp}/naq-bench-cpu.XXXXXX")
# shellcheck source=scripts/lib-server.sh
source "$here/lib-server.sh"

echo "# $(go version), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$root/test" && go test -c -o "$work/loggerjs.test" ./loggerjs/)
start_js_server
echo "# nats-server $("$server_bin" --version | awk '{print $2}') at $url, natscli $("$nats_bin" --version), $msgs messages of 512 B per run"

ticks=$(getconf CLK_TCK)
server_cpu() { awk -v t="$ticks" '{printf "%.3f", ($14 + $15) / t}' "/proc/$server_pid/stat"; }

# run NAME CMD...: runs CMD, prints NAME, the rate CMD reported, and the
# client's and the server's CPU per message in microseconds.
run() {
	local name=$1 before after client rate
	shift
	before=$(server_cpu)
	TIMEFORMAT='%U %S'
	{ time "$@" >"$work/out" 2>&1; } 2>"$work/time"
	after=$(server_cpu)
	client=$(awk '{print $1 + $2}' "$work/time")
	rate=$(sed -n -e 's/.*publisher stats: \([0-9,]*\) msgs\/sec.*/\1/p' -e 's/.* \([0-9.]*\) events\/s.*/\1/p' "$work/out" | sed -n 1p | tr -d ,)
	if [[ -z $rate ]]; then
		echo "bench-client-cpu: no rate in the output of $name:" >&2
		cat "$work/out" >&2
		exit 1
	fi
	awk -v n="$name" -v r="$rate" -v c="$client" -v s="$(awk -v a="$after" -v b="$before" 'BEGIN{print a - b}')" -v m="$msgs" \
		'BEGIN{printf "%-8s %9.0f msgs/s   client %5.2f us/msg   server %5.2f us/msg\n", n, r, c * 1e6 / m, s * 1e6 / m}'
}

for r in $(seq 1 "$rounds"); do
	echo "# round $r"
	run natscli "$nats_bin" --server="$url" --no-context bench js pub fast --dedup --batch=2000 --max-outstanding-acks=2 \
		--create --purge --size=512B --msgs="$msgs" --multisubject --multisubjectmax=100000 \
		--storage=file --no-progress --stream=naq-bench-cpu naq.bench
	"$nats_bin" --server="$url" --no-context stream rm -f naq-bench-cpu >/dev/null
	run logger env NAQ_BENCH_NATS_URL="$url" "$work/loggerjs.test" -test.run='^$' \
		-test.bench='^BenchmarkSustained512B/logger$' -test.benchtime="${msgs}x" -test.count=1
done
