#!/usr/bin/env bash
# cswitch.sh: one sbbench run against a fresh bench server, with the
# context switches of every thread of the server and its worker children
# (voluntary and involuntary, from /proc/PID/task/*/status) over the run,
# and the gateway's batch counters from /metrics. A count, so much steadier
# than CPU time on a shared machine. Prints one JSON line:
# {"server","args","cs","metrics","r": sbbench -json output}.
#
#   examples/bench/scripts/cswitch.sh NAME BENCHSERVER "ENV=V ..." "echo -c 1 -d 6s"
#
# ENV is given to the server ("" for the stock configuration, the worker
# in the gateway's process; e.g. "SB_WORKER_PROCESSES=1" for the worker in
# a child process).
# PORT (18284), NATS_PORT (18424) and MPORT (18464, metrics) set the
# ports; SBBENCH (/tmp/sbbench) the load tool.
set -u
name=$1 bin=$2 envs=$3 args=$4
SBBENCH=${SBBENCH:-/tmp/sbbench}
port=${PORT:-18284}
natsPort=${NATS_PORT:-18424}
mport=${MPORT:-18464}
d=$(mktemp -d)
# shellcheck disable=SC2086 # envs is a list of assignments
(cd "$d" && exec env SB_PROCESS_PID_FILE="$d/pid" SB_METRICS_LISTEN=127.0.0.1:"$mport" $envs \
	"$bin" start --listen ws://127.0.0.1:"$port" --nats-port "$natsPort") >"$d/log" 2>&1 &
for _ in $(seq 300); do [ -s "$d/pid" ] && break; sleep 0.1; done
if ! [ -s "$d/pid" ]; then
	echo "cswitch: server not ready after 30s:" >&2
	cat "$d/log" >&2
	exit 1
fi
sleep 0.5
pid=$(cat "$d/pid")
kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null)
switches() {
	local sum=0 a p t
	for p in $pid $kids; do
		for t in /proc/"$p"/task/*; do
			a=$(awk '/^voluntary_ctxt/{v=$2} /^nonvoluntary_ctxt/{n=$2} END{print v+n}' "$t/status" 2>/dev/null)
			sum=$((sum + ${a:-0}))
		done
	done
	echo "$sum"
}
c0=$(switches)
# shellcheck disable=SC2086 # args is sbbench's argument list
r=$("$SBBENCH" $args -url "ws://127.0.0.1:$port/" -pids "$pid" -json 2>/dev/null)
c1=$(switches)
m=$(curl -s 127.0.0.1:"$mport"/metrics |
	grep -E "^switchboard_gateway_(events_published_total|events_batched_total|event_batches_total|replies_batched_total|reply_batches_total) " |
	tr '\n' ' ')
echo "{\"server\":\"$name\",\"args\":\"$args\",\"cs\":$((c1 - c0)),\"metrics\":\"$m\",\"r\":${r:-null}}"
kill "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
rm -rf "$d"
