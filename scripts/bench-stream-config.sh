#!/usr/bin/env bash
# bench-stream-config: does the logger's stream configuration cost the
# server throughput against natscli's own bench stream? natscli `bench js
# pub fast --dedup --batch=2000 --max-outstanding-acks=2` (512 B, 100,000
# subjects), on ONE nats-server process, into three streams per round:
#   own    the stream natscli creates (--create: limits, discard new,
#          1 GB, 2 min de-dup window, allow_direct, allow_batched),
#          subjects naq.bench.<n>;
#   ours   a stream with jsstore's default configuration (the JSON below:
#          jsstore.streamConfig with the Default* options: subjects
#          naq.events.>, discard old, max age 7 d, 1,000,000 messages,
#          1 GiB, 30 s de-dup window, allow_direct, allow_batched),
#          subjects naq.events.bench.<n>;
#   long   the same stream, subjects as long as the logger's
#          (naq.events.dev.naq.job-started.<n>; the logger's are
#          naq.events.dev.naq.job-<n>.<type>).
# The order of the three rotates from round to round. Each stream is
# deleted after its run, so every run starts on an empty server.
#
# Usage: scripts/bench-stream-config.sh NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]
set -euo pipefail

server_bin=${1:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]}
nats_bin=${2:?usage: $0 NATS_SERVER_BIN NATS_CLI_BIN [MSGS] [ROUNDS]}
msgs=${3:-200000}
rounds=${4:-5}

work=$(mktemp -d "${TMPDIR:-/tmp}/naq-bench-stream-config.XXXXXX")
# shellcheck source=scripts/lib-server.sh
source "$(dirname "$0")/lib-server.sh"

cat >"$work/ours.json" <<'JSON'
{"name":"naq_events","description":"naq job lifecycle events","subjects":["naq.events.>"],
 "retention":"limits","discard":"old","storage":"file","num_replicas":1,
 "max_consumers":-1,"max_msgs":1000000,"max_bytes":1073741824,"max_age":604800000000000,
 "max_msgs_per_subject":-1,"max_msg_size":-1,"duplicate_window":30000000000,
 "allow_direct":true,"allow_batched":true}
JSON

start_js_server
nats() { "$nats_bin" --server="$url" --no-context "$@"; }
echo "# $(nproc) cores, nats-server $("$server_bin" --version | awk '{print $2}') at $url, natscli $("$nats_bin" --version), $msgs messages per run"

fast=(fast --dedup --batch=2000 --max-outstanding-acks=2 --size=512B --msgs="$msgs"
	--multisubject --multisubjectmax=100000 --no-progress)
rate() { sed -n 's/.*publisher stats: \([0-9,]*\) msgs\/sec.*/\1/p' | sed -n 1p | tr -d ,; }
run() {
	case $1 in
	own)
		nats bench js pub "${fast[@]}" --create --purge --storage=file --stream=naq-bench-own naq.bench >"$work/out"
		nats stream rm -f naq-bench-own >/dev/null
		;;
	ours | long)
		nats stream add --config "$work/ours.json" >/dev/null
		local subj=naq.events.bench
		[[ $1 == long ]] && subj=naq.events.dev.naq.job-started
		nats bench js pub "${fast[@]}" --stream=naq_events "$subj" >"$work/out"
		nats stream rm -f naq_events >/dev/null
		;;
	esac
	local r
	r=$(rate <"$work/out")
	if [[ -z $r ]]; then
		echo "bench-stream-config: the $1 run printed no publisher rate; its output:" >&2
		cat "$work/out" >&2
		return 1
	fi
	echo "$r"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
order=(own ours long)
for ((r = 1; r <= rounds; r++)); do
	declare -A got=()
	for name in "${order[@]}"; do
		# run returns 1 when natscli gives no rate (its last command, the
		# rate's sed, would succeed anyway); say which run failed, then stop.
		if ! got[$name]=$(run "$name"); then
			echo "bench-stream-config: round $r: the $name run failed" >&2
			exit 1
		fi
	done
	o=${got[own]}
	a=$(awk -v x="${got[ours]}" -v y="$o" 'BEGIN { printf "%.2f", x / y }')
	b=$(awk -v x="${got[long]}" -v y="$o" 'BEGIN { printf "%.2f", x / y }')
	echo "$a" >>"$work/ours"
	echo "$b" >>"$work/long"
	echo "round $r/$rounds (order ${order[*]}, load $(cut -d' ' -f1 /proc/loadavg)): own ${got[own]} ours ${got[ours]} long ${got[long]} msgs/s; ours/own ${a}x long/own ${b}x"
	unset got
	order=("${order[@]:1}" "${order[0]}")
done
echo "== ours/own: rounds $(paste -sd' ' "$work/ours"); median $(median <"$work/ours")x"
echo "== long/own: rounds $(paste -sd' ' "$work/long"); median $(median <"$work/long")x"
