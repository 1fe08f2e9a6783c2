#!/usr/bin/env bash
# bench-baseline: the JetStream publish ceiling of this machine, measured with
# the NATS CLI against the same nats-server version the project pins.
#
# Starts nats-server on a random loopback port with a temporary store dir
# (-js, file storage), runs `nats bench js pub async --dedup` (512-byte
# messages, a fixed count, a Nats-Msg-Id on every message as our store
# sets), prints the figures, and stops the server.
#
# NAQ_BASELINE_MODE picks the natscli publisher:
#   async         `bench js pub async --dedup --batch=500` (the default)
#   fast          `bench js pub fast --dedup --batch=$NAQ_BASELINE_FAST_BATCH
#                 --max-outstanding-acks=$NAQ_BASELINE_FAST_ACKS`: one
#                 fast-ingest batch (ADR-50) of every message, a flow ack
#                 every FAST_BATCH messages (the server caps it at 500), at
#                 most FAST_ACKS×FAST_BATCH messages unacknowledged. Defaults
#                 2000 and 2: the logger's batch size and flow window
#                 (jsstore sends a batch of 2000 with a flow of 500 and up to
#                 4 acks outstanding, so the whole batch unstalled).
#   fast-nodedup  the same without --dedup (no Nats-Msg-Id). With NAQ_BENCH_NATS_URL
# set it uses that server instead (scripts/bench-logger.sh starts one for
# both natscli and the Go benchmarks) and deletes its bench stream afterwards,
# so that the server is left empty. Its last line is machine-readable:
# "baseline_msgs_per_sec=<n>". Usage:
#   scripts/bench-baseline.sh NATS_SERVER_BIN NATS_CLI_BIN [MSGS]
set -euo pipefail

server_bin=${1:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS]}
nats_bin=${2:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS]}
msgs=${3:-200000}

work=$(mktemp -d "${TMPDIR:-/tmp}/naq-bench-baseline.XXXXXX")
# shellcheck source=scripts/lib-server.sh
source "$(dirname "$0")/lib-server.sh"

url=${NAQ_BENCH_NATS_URL:-}
if [[ -z $url ]]; then
	start_js_server # the flags scripts/bench-logger.sh starts its server with
else
	# The caller's server: leave it as we found it.
	trap '"$nats_bin" --server="$url" --no-context stream rm -f naq-bench-baseline >/dev/null 2>&1 || true; cleanup' EXIT
fi

mode=${NAQ_BASELINE_MODE:-async}
fast_batch=${NAQ_BASELINE_FAST_BATCH:-2000}
fast_acks=${NAQ_BASELINE_FAST_ACKS:-2}
case $mode in
async) args=(async --dedup --batch=500) ;;
fast) args=(fast --dedup --batch="$fast_batch" --max-outstanding-acks="$fast_acks") ;;
fast-nodedup) args=(fast --batch="$fast_batch" --max-outstanding-acks="$fast_acks") ;;
*)
	echo "bench-baseline: NAQ_BASELINE_MODE must be async, fast or fast-nodedup, not $mode" >&2
	exit 2
	;;
esac

echo "nats-server $("$server_bin" --version | awk '{print $2}') at $url, natscli $("$nats_bin" --version)"
echo "nats bench js pub ${args[*]} --multisubject --size=512B --msgs=$msgs --replicas=${NAQ_BASELINE_REPLICAS:-1} naq.bench"
# NAQ_BASELINE_REPLICAS: the bench stream's replicas (on a cluster), default 1.
"$nats_bin" --server="$url" --no-context bench js pub "${args[@]}" \
	--create --purge --size=512B --msgs="$msgs" --replicas="${NAQ_BASELINE_REPLICAS:-1}" \
	--multisubject --multisubjectmax=100000 \
	--storage=file --no-progress --stream=naq-bench-baseline naq.bench | tee "$work/bench.out"

# The machine-readable figure, for scripts/bench-logger.sh and `make bench`:
#   baseline_msgs_per_sec=112996
rate=$(sed -n 's/.*publisher stats: \([0-9,]*\) msgs\/sec.*/\1/p' "$work/bench.out" | sed -n 1p | tr -d ,)
if [[ -z $rate ]]; then
	echo "bench-baseline: no msgs/sec figure in natscli's output" >&2
	exit 1
fi
echo "baseline_msgs_per_sec=$rate"
