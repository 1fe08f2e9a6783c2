#!/usr/bin/env bash
# bench-logger: the event logger's figures (test/loggerjs benchmarks) beside
# the natscli baseline, taken in the same run on the same machine.
#
# Each round runs scripts/bench-baseline.sh (natscli `nats bench js pub
# async --dedup --size=512B`, its own nats-server process) and then
# BenchmarkSustained512B with as many 512-byte events (the logger with its
# defaults and with batches of 2000, and raw asynchronous publishers, over an
# embedded nats-server of the same version), and prints the ratios. Rounds alternate so that the load
# of a shared machine falls on both alike; the summary gives each round's
# ratio and the median. Then, once: Log's cost (single and 8 goroutines),
# latency at 1 k events/s, and the seed's sync publish per event.
#
# Usage: scripts/bench-logger.sh NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]
set -euo pipefail

server_bin=${1:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]}
nats_bin=${2:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]}
msgs=${3:-200000}
rounds=${4:-3}

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work=$(mktemp -d "${TMPDIR:-/tmp}/naq-bench-logger.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "# $(go version), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$root/test" && go test -c -o "$work/loggerjs.test" ./loggerjs/)
bench() { "$work/loggerjs.test" -test.run='^$' -test.benchmem "$@"; }

for ((r = 1; r <= rounds; r++)); do
	echo "== round $r/$rounds: natscli baseline, $msgs messages"
	"$here/bench-baseline.sh" "$server_bin" "$nats_bin" "$msgs" | tee "$work/base.out" | grep -E 'publisher stats|^nats bench'
	base=$(sed -n 's/^baseline_msgs_per_sec=//p' "$work/base.out")
	echo "== round $r/$rounds: BenchmarkSustained512B, $msgs events"
	NAQ_BASELINE_MSGS_PER_SEC=$base bench -test.bench='Sustained512B/(logger|async)' -test.benchtime="${msgs}x" | tee "$work/go.out"
	for name in logger logger-batch2000; do
		ours=$(awk -v n="Sustained512B/$name-[0-9]+$" '$1 ~ n { for (i = 1; i < NF; i++) if ($(i + 1) == "events/s") print $i }' "$work/go.out")
		ratio=$(awk -v a="$ours" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
		echo "$ratio" >>"$work/ratios.$name"
		echo "round $r: $name $ours events/s, natscli $base msgs/s: ${ratio}x"
	done
done

echo "== Log cost, over the JetStream store"
bench -test.bench='^BenchmarkLog(Parallel)?$' -test.count=3
echo "== latency Log → acknowledged at 1 k events/s, 5000 events"
bench -test.bench='Latency1k' -test.benchtime=5000x
echo "== the seed's loop: one awaited publish per event, 20000 events"
bench -test.bench='Sustained512B/^sync-publish' -test.benchtime=20000x

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for name in logger logger-batch2000; do
	echo "== $name / natscli, sustained 512-byte events: rounds $(paste -sd' ' "$work/ratios.$name"); median $(median <"$work/ratios.$name")x"
done
