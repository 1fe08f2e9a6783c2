#!/usr/bin/env bash
# bench-logger: the event logger's figures (test/loggerjs benchmarks) beside
# the natscli baseline, taken in the same run on the same machine.
#
# Like for like: the script starts ONE nats-server process (the binary and
# flags scripts/bench-baseline.sh uses: loopback, random port, -js, file
# storage in a temporary directory) and both natscli and the Go benchmarks
# publish to it over TCP from their own processes (NAQ_BENCH_NATS_URL). Each
# round, for each variant of BenchmarkSustained512B, runs three natscli
# baselines through scripts/bench-baseline.sh (`nats bench js pub async
# --dedup --batch=500`, `… fast --dedup --batch=2000
# --max-outstanding-acks=2`, and the same fast one without --dedup; 512-byte
# messages) and then the variant with as many 512-byte events, and prints
# the variant's ratio to each. Variants (NAQ_BENCH_VARIANTS overrides the
# list): the logger with its defaults (fast-ingest batches of 2000), over
# the asynchronous write path (PublishAsync), without Nats-Msg-Id, raw
# StoreBatch loops with 1, 2 and 4 batches in flight, and a raw
# asynchronous publisher. Every
# measurement starts on an empty server: natscli purges its stream first and
# the script deletes it after; the Go benchmarks delete their stream before
# and after each run. Rounds alternate so that the load of a shared machine
# falls on both alike; the summary gives each round's ratio and the median.
# Then, once, on the same server: Log's cost (single and 8 goroutines) over
# JetStream and over a discarding store, beside OpenTelemetry sdk/log's
# BatchProcessor.OnEmit into a discarding exporter (ratios of the medians of
# 5 runs), latency at 1 k events/s, and the seed's sync publish per event.
#
# NAQ_BENCH_SETUP=cluster3 runs the same against a three-node cluster of
# nats-server processes on loopback, every stream R3 (natscli's with
# --replicas=3, the Go benchmarks' through NAQ_BENCH_REPLICAS), both
# clients connected to the first node.
#
# NAQ_BENCH_SETUP=embedded runs the previous set-up instead: natscli against
# a nats-server process of its own per round, the Go benchmarks against a
# nats-server embedded in the benchmark's process (sharing its GC and
# scheduler with the client, so not like for like).
#
# Usage: scripts/bench-logger.sh NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]
set -euo pipefail

server_bin=${1:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]}
nats_bin=${2:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]}
msgs=${3:-200000}
rounds=${4:-3}
setup=${NAQ_BENCH_SETUP:-external}

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work=$(mktemp -d "${TMPDIR:-/tmp}/naq-bench-logger.XXXXXX")
# shellcheck source=scripts/lib-server.sh
source "$(dirname "$0")/lib-server.sh"

echo "# $(go version), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$root/test" && go test -c -o "$work/loggerjs.test" ./loggerjs/)
bench() { "$work/loggerjs.test" -test.run='^$' -test.benchmem "$@"; }

case $setup in
external)
	# The same command line as scripts/bench-baseline.sh's own server.
	start_js_server
	NAQ_BENCH_NATS_URL=$url
	export NAQ_BENCH_NATS_URL
	echo "# one nats-server process for natscli and the Go benchmarks: $server_bin -a 127.0.0.1 -p -1 -js -sd DIR at $NAQ_BENCH_NATS_URL"
	;;
cluster3)
	# Three nats-server processes of one cluster on loopback, JetStream on
	# each, every stream R3 (natscli's and the Go benchmarks'); both
	# clients connect to the first node. All share the machine's cores.
	node_pids=()
	cleanup() {
		for p in "${node_pids[@]}"; do kill "$p" 2>/dev/null || true; done
		for p in "${node_pids[@]}"; do wait "$p" 2>/dev/null || true; done
		rm -rf "$work"
	}
	# The cluster ports are picked ahead, because every node of a
	# JetStream cluster needs its routes on its command line (a node
	# without them refuses to start JetStream); the sockets are closed
	# before the nodes bind them, so another process could take one in
	# between: alive below then reports the node that failed to start.
	read -r -a cports <<<"$(python3 -c 'import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')"
	routes=$(printf 'nats://127.0.0.1:%s,' "${cports[@]}")
	for i in 0 1 2; do
		mkdir -p "$work/n$i"
		"$server_bin" -a 127.0.0.1 -p -1 -js -sd "$work/n$i/store" --ports_file_dir "$work/n$i" \
			--server_name "n$i" --cluster_name bench --cluster "nats://127.0.0.1:${cports[$i]}" \
			--routes "${routes%,}" >"$work/n$i/server.log" 2>&1 &
		node_pids+=($!)
	done
	alive() {
		local p
		for p in "${node_pids[@]}"; do
			if ! kill -0 "$p" 2>/dev/null; then
				echo "bench-logger: a cluster node (pid $p) exited:" >&2
				tail -n 20 "$work"/n*/server.log >&2
				exit 1
			fi
		done
	}
	deadline=$((SECONDS + 60))
	until NAQ_BENCH_NATS_URL=$(grep -ho 'nats://[^"]*' "$work/n0/"*.ports 2>/dev/null | sed -n 1p) && [[ -n $NAQ_BENCH_NATS_URL ]] &&
		"$nats_bin" --server="$NAQ_BENCH_NATS_URL" --no-context stream add naq-bench-probe --subjects=naq.bench-probe \
			--replicas=3 --defaults >/dev/null 2>&1; do
		alive
		if ((SECONDS > deadline)); then
			echo "bench-logger: the three-node cluster could not make an R3 stream within 60 s:" >&2
			tail -n 20 "$work"/n*/server.log >&2
			exit 1
		fi
		sleep 0.5
	done
	"$nats_bin" --server="$NAQ_BENCH_NATS_URL" --no-context stream rm -f naq-bench-probe >/dev/null
	export NAQ_BENCH_NATS_URL NAQ_BENCH_REPLICAS=3 NAQ_BASELINE_REPLICAS=3
	echo "# a three-node cluster (R3 streams), clients on node n0 at $NAQ_BENCH_NATS_URL"
	;;
embedded)
	unset NAQ_BENCH_NATS_URL
	echo "# natscli: a nats-server process per round; Go benchmarks: nats-server embedded in their process"
	;;
*)
	echo "bench-logger: NAQ_BENCH_SETUP must be external, cluster3 or embedded, not $setup" >&2
	exit 2
	;;
esac

# Each variant is measured right after a natscli run of its own, so that a
# neighbour's load, which comes and goes within seconds on a shared machine,
# falls on the two halves of a ratio alike.
read -r -a variants <<<"${NAQ_BENCH_VARIANTS:-logger logger-async logger-nomsgid store-inflight1 store-inflight2 store-inflight4 async-publish-batch500}"
baselines=(async fast fast-nodedup)
for ((r = 1; r <= rounds; r++)); do
	echo "== round $r/$rounds, $msgs messages per run, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	for name in "${variants[@]}"; do
		declare -A base=()
		for mode in "${baselines[@]}"; do
			NAQ_BASELINE_MODE=$mode "$here/bench-baseline.sh" "$server_bin" "$nats_bin" "$msgs" >"$work/base.out" 2>&1 ||
				{ cat "$work/base.out" >&2; exit 1; }
			if ((r == 1)) && [[ $name == "${variants[0]}" ]]; then
				grep -E '^nats(-server| bench)' "$work/base.out"
			fi
			base[$mode]=$(sed -n 's/^baseline_msgs_per_sec=//p' "$work/base.out")
		done
		NAQ_BASELINE_MSGS_PER_SEC=${base[async]} bench -test.bench="Sustained512B/^$name\$" -test.benchtime="${msgs}x" >"$work/go.out" 2>&1 ||
			{ cat "$work/go.out" >&2; exit 1; }
		grep '^Benchmark' "$work/go.out"
		ours=$(awk -v n="Sustained512B/$name-[0-9]+$" '$1 ~ n { for (i = 1; i < NF; i++) if ($(i + 1) == "events/s") print $i }' "$work/go.out")
		line="round $r/$rounds: $name $ours events/s;"
		for mode in "${baselines[@]}"; do
			ratio=$(awk -v a="$ours" -v b="${base[$mode]}" 'BEGIN { printf "%.2f", a / b }')
			echo "$ratio" >>"$work/ratios.$name.$mode"
			line+=" natscli $mode ${base[$mode]} msgs/s: ${ratio}x;"
		done
		echo "$line"
		unset base
	done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== Log cost, over the JetStream store and over a discarding store, beside OpenTelemetry sdk/log BatchProcessor.OnEmit, load average $(cut -d' ' -f1-3 /proc/loadavg)"
bench -test.bench='^Benchmark(Log|LogDiscard|OTelOnEmit)(Parallel)?$' -test.count=5 | tee "$work/log.out" | grep '^Benchmark'
nsop() { awk -v n="^$1-[0-9]+$" '$1 ~ n { for (i = 1; i < NF; i++) if ($(i + 1) == "ns/op") print $i }' "$work/log.out" | median; }
for pair in "BenchmarkLog BenchmarkOTelOnEmit" "BenchmarkLogDiscard BenchmarkOTelOnEmit" \
	"BenchmarkLogParallel BenchmarkOTelOnEmitParallel" "BenchmarkLogDiscardParallel BenchmarkOTelOnEmitParallel"; do
	read -r a b <<<"$pair"
	echo "$a / $b: median $(nsop "$a") / $(nsop "$b") ns/op = $(awk -v x="$(nsop "$a")" -v y="$(nsop "$b")" 'BEGIN { printf "%.2f", x / y }')x"
done
echo "== latency Log → acknowledged at 1 k events/s, 5000 events, batch sizes 500/1000/2000"
bench -test.bench='Latency1k' -test.benchtime=5000x
echo "== the seed's loop: one awaited publish per event, 20000 events"
bench -test.bench='Sustained512B/^sync-publish' -test.benchtime=20000x

for name in "${variants[@]}"; do
	for mode in "${baselines[@]}"; do
		echo "== $name / natscli $mode, sustained 512-byte events: rounds $(paste -sd' ' "$work/ratios.$name.$mode"); median $(median <"$work/ratios.$name.$mode")x"
	done
done
