#!/usr/bin/env bash
# sitting.sh: one full measurement sitting for docs/performance.md.
# Every scenario against a fresh server, Switchboard and the raw reference
# server interleaved where a ratio is quoted. Writes one JSON line per run
# ({"label","server","r": sbbench -json output}) to $OUT.
#
#   go build -o /tmp/benchserver ./examples/bench/cmd/benchserver
#   go build -o /tmp/sbbench ./cmd/sbbench
#   OUT=/tmp/sitting.jsonl examples/bench/scripts/sitting.sh
#
# Run nothing else on the machine meanwhile; it takes about 5 minutes on
# 2 cores and needs ports 8282 and 14222.
set -u
BENCHSERVER=${BENCHSERVER:-/tmp/benchserver}
SBBENCH=${SBBENCH:-/tmp/sbbench}
out=${OUT:-/tmp/sitting.jsonl}
: >"$out"

# srv starts the benchserver (sb) or the raw server (raw) and prints its PID.
srv() {
	local d
	d=$(mktemp -d)
	if [ "$1" = raw ]; then
		"$SBBENCH" rawserver -listen 127.0.0.1:8282 -pid-file "$d/pid" >"$d/log" 2>&1 &
	else
		(cd "$d" && exec env SB_PROCESS_PID_FILE="$d/pid" SB_WORKER_PROCESSES=0 SB_LOG_LEVEL=warn \
			SB_GATEWAY_SEND_BUFFER_BYTES=67108864 \
			"$BENCHSERVER" start --listen ws://127.0.0.1:8282 --nats-port 14222) >"$d/log" 2>&1 &
	fi
	for _ in $(seq 80); do [ -s "$d/pid" ] && break; sleep 0.1; done
	sleep 0.5
	cat "$d/pid"
}

# run LABEL SERVER ARGS...: one run of sbbench against a fresh server.
run() {
	local label=$1 server=$2 pid r
	shift 2
	pid=$(srv "$server")
	r=$("$SBBENCH" "$@" -pids "$pid" -json 2>/dev/null)
	echo "{\"label\":\"$label\",\"server\":\"$server\",\"r\":$r}" >>"$out"
	kill "$pid"
	sleep 1
}

for _ in 1 2 3; do
	"$SBBENCH" floor -writes 300000 -json 2>/dev/null | sed 's/^/{"label":"floor","r":/; s/$/}/' >>"$out"
done
for _ in 1 2 3; do
	run bc10k raw broadcast -n 10000 -messages 200 -inflight 1
	run bc10k sb broadcast -n 10000 -messages 200 -inflight 1
done
for _ in 1 2 3; do
	run flood10k sb broadcast -n 10000 -messages 2000 -inflight 64 -push-nats nats://127.0.0.1:14222
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
echo "done: $out"
