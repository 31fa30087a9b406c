#!/usr/bin/env bash
# sitting.sh: one full measurement sitting for docs/performance.md.
# Every scenario against a fresh server, Switchboard and the raw reference
# server (sbbench rawserver: no bus, a goroutine per connection)
# interleaved where a ratio is quoted. Writes one JSON line per run
# ({"label","server","workers","r": sbbench -json output}) to $OUT.
#
#   go build -o /tmp/benchserver ./examples/bench/cmd/benchserver
#   go build -o /tmp/sbbench ./cmd/sbbench
#   OUT=/tmp/sitting.jsonl examples/bench/scripts/sitting.sh
#   PART=light OUT=/tmp/light.jsonl examples/bench/scripts/sitting.sh
#   go run ./examples/bench/cmd/sittingtable </tmp/light.jsonl
#
# PART picks the runs: heavy (idle, connect, echo at 200, broadcast closed
# loop and flood: the rows tuned with worker.processes: 0), light (echo at
# 1 and 20 connections, at 1 with a 10 ms think time and at 200, and
# oneshot, for both configurations and the raw server), or all (default).
#
# Servers:
#   raw  sbbench rawserver
#   def  the bench server started as a user starts it: "benchserver start"
#        with the stock configuration (worker.processes: 0: the worker in
#        the gateway's process, on the in-process path), only the ports
#        and the pid file set
#   p0   the same with worker.processes: 0 set explicitly
#   p1   the same with worker.processes: 1 (the worker in a child process)
#   sb   worker.processes: 0, gateway.send_buffer_bytes 64 MiB and warn
#        logs: the heavy-load rows' server
# Server CPU is summed over the server's process and its descendants (the
# worker child, for p1): sbbench -pids takes the gateway's pid and finds
# the rest; "workers" in each line is the number of child processes seen.
# RSS (idle, oneshot) is the gateway's process only.
#
# Run nothing else on the machine meanwhile; PART=all takes about 15
# minutes on 2 cores and needs ports 8282 and 14222 (PORT, NATS_PORT).
# ROUNDS (3), LIGHT_D (10s, each light echo run) and ONESHOT_N (19000)
# shorten a trial sitting.
set -u
BENCHSERVER=${BENCHSERVER:-/tmp/benchserver}
SBBENCH=${SBBENCH:-/tmp/sbbench}
out=${OUT:-/tmp/sitting.jsonl}
part=${PART:-all}
rounds=${ROUNDS:-3}
oneshotN=${ONESHOT_N:-19000}
lightD=${LIGHT_D:-10s}
port=${PORT:-8282}
natsPort=${NATS_PORT:-14222}
: >"$out"

# srv KIND DIR starts a server in DIR and prints its PID once it is ready
# (its pid file appears when the gateway and its worker processes are).
srv() {
	local kind=$1 d=$2
	case $kind in
	raw)
		"$SBBENCH" rawserver -listen 127.0.0.1:"$port" -pid-file "$d/pid" >"$d/log" 2>&1 &
		;;
	def)
		(cd "$d" && exec env SB_PROCESS_PID_FILE="$d/pid" \
			"$BENCHSERVER" start --listen ws://127.0.0.1:"$port" --nats-port "$natsPort") >"$d/log" 2>&1 &
		;;
	p0 | p1)
		(cd "$d" && exec env SB_PROCESS_PID_FILE="$d/pid" SB_WORKER_PROCESSES="${kind#p}" \
			"$BENCHSERVER" start --listen ws://127.0.0.1:"$port" --nats-port "$natsPort") >"$d/log" 2>&1 &
		;;
	sb)
		(cd "$d" && exec env SB_PROCESS_PID_FILE="$d/pid" SB_WORKER_PROCESSES=0 SB_LOG_LEVEL=warn \
			SB_GATEWAY_SEND_BUFFER_BYTES=67108864 \
			"$BENCHSERVER" start --listen ws://127.0.0.1:"$port" --nats-port "$natsPort") >"$d/log" 2>&1 &
		;;
	*)
		echo "srv: unknown server $kind" >&2
		return 1
		;;
	esac
	for _ in $(seq 300); do [ -s "$d/pid" ] && break; sleep 0.1; done
	if ! [ -s "$d/pid" ]; then
		echo "srv: $kind not ready after 30s:" >&2
		cat "$d/log" >&2
		return 1
	fi
	sleep 0.5
	cat "$d/pid"
}

# run LABEL SERVER ARGS...: one run of sbbench against a fresh server.
run() {
	local label=$1 server=$2 d pid r workers
	shift 2
	d=$(mktemp -d)
	if ! pid=$(srv "$server" "$d"); then
		echo "{\"label\":\"$label\",\"server\":\"$server\",\"error\":\"server did not start\"}" >>"$out"
		rm -rf "$d"
		return
	fi
	workers=$(cat /proc/"$pid"/task/*/children 2>/dev/null | wc -w)
	r=$("$SBBENCH" "$@" -url "ws://127.0.0.1:$port/" -pids "$pid" -json 2>"$d/sbbench.err")
	if [ -z "$r" ]; then
		r="{\"error\":\"$(tr -d '"\\\n' <"$d/sbbench.err" | tail -c 300)\"}"
	fi
	echo "{\"label\":\"$label\",\"server\":\"$server\",\"workers\":$workers,\"r\":$r}" >>"$out"
	kill "$pid"
	for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	sleep 0.5
	rm -rf "$d"
}

heavy() {
	for _ in 1 2 3; do
		"$SBBENCH" floor -writes 300000 -json 2>/dev/null | sed 's/^/{"label":"floor","r":/; s/$/}/' >>"$out"
	done
	for _ in 1 2 3; do
		run bc10k raw broadcast -n 10000 -messages 200 -inflight 1
		run bc10k sb broadcast -n 10000 -messages 200 -inflight 1
	done
	for _ in 1 2 3; do
		run flood10k sb broadcast -n 10000 -messages 2000 -inflight 64 -push-nats nats://127.0.0.1:"$natsPort"
	done
	for _ in 1 2 3; do run echo200 sb echo -c 200 -d 8s; done
	run echo200 raw echo -c 200 -d 8s
	for _ in 1 2 3; do run idle19k sb idle -n 19000 -c 100 -hold 3s; done
	run idle1k sb idle -n 1000 -c 100 -hold 3s
	run idle5k sb idle -n 5000 -c 100 -hold 3s
	for n in 100 1000; do
		run "bc$n" raw broadcast -n "$n" -messages 2000 -inflight 1
		run "bc$n" sb broadcast -n "$n" -messages 2000 -inflight 1
	done
}

# light: the light-load rows, in rounds; in each round every server runs
# every scenario in turn, so a drift of the machine hits all alike.
light() {
	for _ in $(seq "$rounds"); do
		for s in raw def p1; do
			run echo1 "$s" echo -c 1 -d "$lightD"
			run echo20 "$s" echo -c 20 -d "$lightD"
			run think1 "$s" echo -c 1 -think 10ms -d "$lightD"
			run echo200light "$s" echo -c 200 -d "$lightD"
		done
	done
	for _ in $(seq "$rounds"); do
		for s in raw def p1; do
			run "oneshot$oneshotN" "$s" oneshot -n "$oneshotN" -c 100 -hold 3s -later 10s
		done
	done
}

case $part in
heavy) heavy ;;
light) light ;;
all)
	heavy
	light
	;;
*)
	echo "PART=$part: want heavy, light or all" >&2
	exit 2
	;;
esac
echo "done: $out"
