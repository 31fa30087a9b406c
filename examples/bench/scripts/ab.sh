#!/usr/bin/env bash
# ab.sh: compare builds of the benchserver back to back. Three rounds; in
# each, every build in turn runs the same sbbench scenario against a fresh
# server. One line per run: the build and its sbbench -json result.
#
#   examples/bench/scripts/ab.sh "echo -c 200 -d 8s" /tmp/bs_before /tmp/bs_after
#
# The machine is noisy: judge a change by its pairs, not by one run.
set -u
SBBENCH=${SBBENCH:-/tmp/sbbench}
args=$1
shift
for _ in 1 2 3; do
	for bin in "$@"; do
		d=$(mktemp -d)
		(cd "$d" && exec env SB_PROCESS_PID_FILE="$d/pid" SB_WORKER_PROCESSES="${SB_WORKER_PROCESSES:-0}" SB_LOG_LEVEL=warn \
			SB_GATEWAY_SEND_BUFFER_BYTES=67108864 \
			"$bin" start --listen ws://127.0.0.1:8282 --nats-port 14222) >"$d/log" 2>&1 &
		for _ in $(seq 50); do [ -s "$d/pid" ] && break; sleep 0.1; done
		sleep 1
		pid=$(cat "$d/pid")
		pids=$pid
		if [ "${SB_WORKER_PROCESSES:-0}" != 0 ]; then # count the worker processes too
			for w in $(pgrep -P "$pid"); do pids="$pids,$w"; done
		fi
		# shellcheck disable=SC2086 # args is a list of flags
		echo "$(basename "$bin") $("$SBBENCH" $args -pids "$pids" -json 2>/dev/null)"
		kill "$pid"
		sleep 1
		rm -rf "$d"
	done
done
