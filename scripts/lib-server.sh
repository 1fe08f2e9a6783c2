# lib-server.sh, sourced by the bench and soak scripts: the clean-up of the
# nats-server process they start and of their work directory. Set work (a
# directory the script owns) before sourcing it and server_pid once the
# server runs; stop_server stops it early (a fresh server per run), and on
# exit cleanup stops it and removes work. A script with more to stop
# defines its own cleanup after sourcing this file and calls stop_server.
# start_js_server starts the one nats-server command line they all use.
# shellcheck shell=bash

server_pid=

stop_server() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid"
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=
}

cleanup() {
	stop_server
	rm -rf "$work"
}

# start_js_server starts server_bin on loopback with JetStream, file
# storage in $work/store and a free port (-p -1; the ports file in $work
# tells which), plus any extra arguments; it waits up to 20 s for the
# server and sets server_pid and url (its client URL), or prints the
# server's log and exits. The caller sets server_bin and work.
start_js_server() {
	"$server_bin" -a 127.0.0.1 -p -1 -js -sd "$work/store" --ports_file_dir "$work" "$@" \
		>"$work/server.log" 2>&1 &
	server_pid=$!
	local deadline=$((SECONDS + 20)) ports="$work/nats-server_${server_pid}.ports"
	until [[ -s $ports ]] && grep -q 'nats://' "$ports"; do
		if ! kill -0 "$server_pid" 2>/dev/null || ((SECONDS > deadline)); then
			echo "$(basename "$0"): nats-server did not start (or write $ports) within 20 s:" >&2
			cat "$work/server.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	url=$(grep -o 'nats://[^"]*' "$ports" | sed -n 1p)
}

trap cleanup EXIT
