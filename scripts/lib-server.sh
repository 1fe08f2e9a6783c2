# lib-server.sh, sourced by the bench and soak scripts: the clean-up of the
# nats-server process they start and of their work directory. Set work (a
# directory the script owns) before sourcing it and server_pid once the
# server runs; stop_server stops it early (a fresh server per run), and on
# exit cleanup stops it and removes work. A script with more to stop
# defines its own cleanup after sourcing this file and calls stop_server.
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

trap cleanup EXIT
