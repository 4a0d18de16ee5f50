#!/usr/bin/env bash
# End-to-end test of the compose deployment on this machine's Docker engine
# (issue 5). It runs the README's "Run a cluster" commands, with a random
# host port, its own compose project and deploy/ci-job.yaml for the job it
# asserts on:
#
#  1. build the images; up -d --scale worker=3 (mutual TLS, workers issued
#     their certificates by the coordinator); wait until healthy; the host
#     CLI without a token or a certificate is refused;
#  2. submit deploy/ci-job.yaml from the host CLI and watch it;
#  3. while it runs, scale to 4 workers, then docker kill one in mid-epoch;
#  4. the job completes and meets training.target_accuracy; `coordinator
#     model` downloads its model and `coordinator eval` scores it at the
#     accuracy the job reported; the coordinator's log shows the ring
#     changing size; the same job again, the coordinator docker-killed
#     after epoch 1 and started again: it resumes and completes with the
#     same accuracy (within half a point);
#  5. the showcase job (examples/fashion-mnist.yaml) with 4 and with 2
#     workers, for its samples/s in a quarter of an epoch; then it is
#     cancelled;
#  6. down -v; the same with docker-compose.etcd3.yml: one etcd member is
#     stopped mid-job and the job still completes; down -v;
#  7. nothing of the project is left: containers, networks, volumes;
#  8. deploy/swarm-e2e.sh: the stack on a single-node Docker Swarm, scaled
#     with docker service scale, trains deploy/ci-job.yaml; nothing left,
#     the engine as it was.
#
# It prints the figures docs/benchmarks.md records. Without a Docker
# engine (or a compose tool) it prints a SKIP: line and exits 0; any real
# failure exits non-zero, after dumping the coordinator's log. Whatever
# happens, the trap takes the cluster down.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"

if ! docker_up; then
	echo "SKIP: deploy/e2e.sh: no Docker engine answers (docker info failed); the container end-to-end test did NOT run" >&2
	exit 0
fi
if ! find_compose 2>/dev/null; then
	echo "SKIP: deploy/e2e.sh: a Docker engine answers but neither 'docker compose' nor 'docker-compose' is installed; the container end-to-end test did NOT run" >&2
	exit 0
fi

T0=$SECONDS
export COMPOSE_PROJECT_NAME="ringtrain-e2e-$$"
export RINGTRAIN_PORT=0 RINGTRAIN_METRICS_PORT=0 # Docker picks free host ports; cluster.sh addr finds one
CI_JOB=${RINGTRAIN_E2E_JOB:-deploy/ci-job.yaml}
SHOWCASE=examples/fashion-mnist.yaml
WORK=$(mktemp -d)
BG=() # background watchers, killed on exit
CLUSTER=("$DEPLOY_DIR/cluster.sh")

cluster() { "${CLUSTER[@]}" "$@"; }
compose() { cluster compose "$@"; }

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${BG[@]}"; do kill "$pid" 2>/dev/null || true; done
	if ((rc != 0)); then
		echo "--- deploy/e2e.sh failed (exit $rc); coordinator log, last 40 lines:" >&2
		compose logs --no-color --tail=40 coordinator >&2 2>/dev/null || true
		for f in "$WORK"/*.err; do
			[[ -s "$f" ]] && { echo "--- $(basename "$f"):" >&2; cat "$f" >&2; }
		done
	fi
	# Down with both files, so the etcd3 members go too, whichever phase failed.
	RINGTRAIN_ETCD3=1 cluster down >/dev/null 2>&1 || true
	rm -rf "$WORK"
	if leftovers >&2; then
		echo "FAIL: project $COMPOSE_PROJECT_NAME left the above behind" >&2
		rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# leftovers lists the project's containers, networks and volumes, and
# succeeds when there are any.
leftovers() {
	local f="label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" out
	out=$(docker ps -aq --filter "$f"; docker network ls -q --filter "$f"; docker volume ls -q --filter "$f")
	[[ -n "$out" ]] && echo "$out"
}

# http_get PORT PATH: the body of GET http://localhost:PORT/PATH, with
# bash's /dev/tcp (no curl on a fresh machine).
http_get() {
	local body
	exec 3<>"/dev/tcp/localhost/$1"
	printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3
	body=$(cat <&3)
	exec 3<&-
	sed '1,/^\r\{0,1\}$/d' <<<"$body"
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

# stamp prefixes each line with the time it arrived (seconds since the
# epoch), without a fork per line.
stamp() {
	local l
	while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done
}

# background NAME COMMAND...: run COMMAND in the background; its output
# goes to $WORK/NAME.out, stamped, its stderr to $WORK/NAME.err and its
# exit code to $WORK/NAME.rc when it ends.
background() {
	local name=$1
	shift
	: >"$WORK/$name.out"
	{
		# Quiet when the trap has removed $WORK under a watcher still running.
		if "$@" 2>"$WORK/$name.err"; then
			{ echo 0 >"$WORK/$name.rc"; } 2>/dev/null || true
		else
			{ echo $? >"$WORK/$name.rc"; } 2>/dev/null || true
		fi
	} | stamp >"$WORK/$name.out" &
	BG+=($!)
}

# follow NAME SPEC [FLAGS]: submit SPEC from the host CLI and watch it, in
# the background.
follow() {
	local name=$1 spec=$2
	shift 2
	background "$name" "$CLI" submit --coordinator "$ADDR" -f "$spec" --watch "$@"
}

# wait_line NAME REGEX TIMEOUT [AFTER]: the number of the first line of
# $WORK/NAME.out after line AFTER that matches REGEX; fails when TIMEOUT
# seconds pass or the submit ends first.
wait_line() {
	local name=$1 re=$2 timeout=$3 after=${4:-0} n deadline=$((SECONDS + $3))
	while :; do
		n=$(awk -v from="$after" -v re="$re" 'NR > from && $0 ~ re {print NR; exit}' "$WORK/$name.out")
		[[ -n "$n" ]] && { echo "$n"; return; }
		[[ -e "$WORK/$name.rc" ]] && fail "$name ended (exit $(<"$WORK/$name.rc")) before a line matching /$re/"
		((SECONDS < deadline)) || fail "$name: no line matching /$re/ within ${timeout}s"
		sleep 0.1
	done
}

# wait_done NAME TIMEOUT: wait for submit NAME to end; its exit code.
wait_done() {
	local deadline=$((SECONDS + $2))
	until [[ -s "$WORK/$1.rc" ]]; do
		((SECONDS < deadline)) || fail "$1 did not end within $2s"
		sleep 0.2
	done
	cat "$WORK/$1.rc"
}

line() { sed -n "$2p" "$WORK/$1.out"; }
ts() { line "$1" "$2" | cut -d' ' -f1; }
# num JSON FIELD: the number in "FIELD": of JSON (protojson spaces vary).
num() { sed -nE "s/.*\"$2\":[[:space:]]*\"?(-?[0-9.eE+]+)\"?.*/\1/p" <<<"$1" | head -n 1; }
step_of() { local l; l=$(line "$1" "$2"); echo "${l#*\"step\":}"; }

# ---------------------------------------------------------------- 1. build
log "building the images and the host CLI"
"$DEPLOY_DIR/images.sh"
# The host CLI as `make build` builds it (OpenBLAS when it links).
TAGS=
if printf 'int main(void){return 0;}' | cc -x c - -lopenblas -o /dev/null >/dev/null 2>&1; then
	TAGS=openblas
fi
"$GO" build -tags "$TAGS" -o bin/coordinator ./cmd/coordinator
CLI=bin/coordinator
log "compose tool: ${COMPOSE[*]}; project $COMPOSE_PROJECT_NAME"

start=$EPOCHREALTIME
cluster up 3
STARTUP=$(elapsed "$start" "$EPOCHREALTIME")
ADDR=$(cluster addr)
# The cluster is mutual TLS with tokens: the host CLI takes the client
# certificate and the admin token as the README says; without the token, or
# without a certificate, it is refused.
eval "$(cluster client "$WORK/client")"
"$CLI" workers --coordinator "$ADDR"
if RINGTRAIN_TOKEN= "$CLI" jobs --coordinator "$ADDR" >/dev/null 2>"$WORK/refused.out"; then
	fail "the coordinator answered a CLI without a token"
fi
if RINGTRAIN_TLS_CERT= RINGTRAIN_TLS_KEY= "$CLI" jobs --coordinator "$ADDR" >/dev/null 2>>"$WORK/refused.out"; then
	fail "the coordinator answered a CLI without a client certificate"
fi
log "refused as they should be: $(tr '\n' ' ' <"$WORK/refused.out")"

# ------------------------------------ 2.-3. the job; scale out; kill a worker
log "submitting $CI_JOB; scaling to 4 workers and killing one while it runs"
follow main "$CI_JOB" --output json
n=$(wait_line main '"message": *"ring of 3 workers' 60)
compose up -d --scale worker=4
n4=$(wait_line main '"message": *"ring of 4 workers' 60 "$n")
# Kill in mid-epoch: at a progress report of the 4-worker ring between 10%
# and 50% of an epoch's steps (reports come about once a second, and an
# epoch takes a few). The victim is chosen first: compose is slow to ask.
victim=$(compose ps -q worker | tail -n 1)
after=$n4
while :; do
	n=$(wait_line main '"step": *[{]' 60 "$after")
	s=$(step_of main "$n")
	step=$(num "$s" step) steps=$(num "$s" steps) workers=$(num "$s" workers) epoch=$(num "$s" epoch)
	if ((workers == 4 && step * 10 >= steps && step * 2 <= steps)); then
		break
	fi
	after=$n
done
# Lines counted before the kill: the ring re-forms within moments of it,
# possibly before docker kill returns.
KILL_LINE=$(wc -l <"$WORK/main.out")
KILL_AT=$EPOCHREALTIME
docker kill "$victim" >/dev/null
log "killed worker ${victim:0:12} after the progress report of step $step/$steps of epoch $epoch"
rc=$(wait_done main 180)
((rc == 0)) || fail "submit --watch of $CI_JOB exited $rc: $(cat "$WORK/main.err")"

# --------------------------------------------------------------- 4. results
final=$(grep -E '"state": *"JOB_STATE_SUCCEEDED"' "$WORK/main.out" | tail -n 1)
[[ -n "$final" ]] || fail "the job did not succeed"
JOB=$(sed -nE 's/.*"id": *"([^"]+)".*/\1/p' <<<"$final" | head -n 1)
acc=$(num "$final" saved_test_accuracy)
target=$(num "$final" target_accuracy)
awk -v a="$acc" -v t="$target" 'BEGIN{exit !(t > 0 && a >= t)}' || fail "test accuracy $acc is below the target $target"
REPORTED=$(awk -v a="$acc" 'BEGIN{printf "%.2f", 100*a}')
grep -qE 'redoing it from the last checkpoint' "$WORK/main.out" || fail "no epoch was redone after the kill"
FAILED_AT=$(grep -o 'all-reduce at step [0-9]*' "$WORK/main.out" | head -n 1 | grep -o '[0-9]*$') || FAILED_AT="?"

# Kill to resume: the ring re-formed without the dead worker (the first
# 3-worker ring after the kill), then the first progress report of that ring.
n=$(wait_line main '"message": *"ring of 3 workers' 1 "$KILL_LINE")
RING_AFTER=$(elapsed "$KILL_AT" "$(ts main "$n")")
n=$(wait_line main '"step": *[{]' 1 "$n")
STEP_AFTER=$(elapsed "$KILL_AT" "$(ts main "$n")")

"$CLI" model --coordinator "$ADDR" "$JOB" -o "$WORK/model.safetensors"
"$CLI" eval -m "$WORK/model.safetensors" -f "$CI_JOB" >"$WORK/eval.out"
head -n 1 "$WORK/eval.out"
EVALUATED=$(sed -nE 's/.*accuracy ([0-9.]+)%.*/\1/p' "$WORK/eval.out" | head -n 1)
[[ "$EVALUATED" == "$REPORTED" ]] || fail "eval scores the downloaded model at $EVALUATED%, the job reported $REPORTED%"
"$CLI" jobs --coordinator "$ADDR"
# The coordinator's Prometheus metrics, as a scraper sees them.
mport=$(compose port coordinator 9090 | tail -n 1)
metrics=$(http_get "${mport##*:}" /metrics)
grep -qx 'ringtrain_coordinator_leader 1' <<<"$metrics" || fail "the coordinator's /metrics does not say it leads"
grep -q "^ringtrain_job_epoch{job=\"$JOB\"} 4\$" <<<"$metrics" || fail "the coordinator's /metrics has no epoch 4 for job $JOB"
log "job $JOB: test accuracy $REPORTED% (target $(awk -v t="$target" 'BEGIN{printf "%.2f", 100*t}')%), eval agrees"

compose logs --no-color coordinator >"$WORK/coordinator.log" 2>&1
sizes=$(grep 'msg="ring changed"' "$WORK/coordinator.log" | grep -o 'workers=[0-9]*' | uniq | tr '\n' ' ') || true
log "coordinator log, ring sizes in order: $sizes"
grep -q 'workers=3' <<<"$sizes" && grep -q 'workers=4' <<<"$sizes" || fail "the coordinator's log does not show the ring going 3 -> 4 workers"

# ------------------------------- 4b. the coordinator killed mid-job, started again
# docker kill, then up again: the new coordinator finds the job's record in
# etcd and its checkpoint in the data volume and resumes it; the workers
# keep running. The host port may change, so its status is polled.
log "killing the coordinator mid-job and starting it again"
follow restart "$CI_JOB"
wait_line restart '^[0-9.]+ epoch 1/' 180 >/dev/null
RJOB=$(sed -n 1p "$WORK/restart.out" | cut -d' ' -f2)
KILL_COORD_AT=$EPOCHREALTIME
docker kill "$(compose ps -q coordinator)" >/dev/null
compose up -d coordinator >/dev/null 2>&1
ADDR=$(cluster addr)
deadline=$((SECONDS + 240))
until "$CLI" status --coordinator "$ADDR" "$RJOB" -o json >"$WORK/restart.json" 2>/dev/null &&
	grep -qE '"state": *"JOB_STATE_(SUCCEEDED|FAILED|CANCELLED)"' "$WORK/restart.json"; do
	((SECONDS < deadline)) || fail "job $RJOB did not end within 240 s of the coordinator's restart"
	sleep 1
done
RESTART_DONE=$(elapsed "$KILL_COORD_AT" "$EPOCHREALTIME")
grep -qE '"state": *"JOB_STATE_SUCCEEDED"' "$WORK/restart.json" || fail "job $RJOB did not succeed after the coordinator's restart: $(cat "$WORK/restart.json")"
racc=$(num "$(cat "$WORK/restart.json")" saved_test_accuracy)
RESUMED=$(awk -v a="$racc" 'BEGIN{printf "%.2f", 100*a}')
awk -v a="$RESUMED" -v b="$REPORTED" 'BEGIN{d=a-b; exit !(d <= 0.5 && d >= -0.5)}' ||
	fail "the resumed job's test accuracy $RESUMED% is not that of the job before ($REPORTED%)"
compose logs --no-color coordinator 2>&1 | grep -q 'msg="job recovered"' || fail "the restarted coordinator's log shows no recovered job"
log "job $RJOB resumed after the coordinator's restart: test accuracy $RESUMED%, ended ${RESTART_DONE}s after the kill"

# ------------------------------------------- 5. showcase samples/s, 4 and 2
# samples/s of the showcase job: the rate its progress reports give once a
# quarter of epoch 1 is done (the rate since the epoch started, after the
# data set reached the workers), read from a second watcher in JSON; the
# README's submit --watch runs alongside. Then the job is cancelled.
showcase() {
	local workers=$1 name="showcase$1" id n s
	cluster up "$workers" >&2 # scales, and waits until exactly $workers are registered
	follow "$name" "$SHOWCASE"
	wait_line "$name" "ring of $workers workers" 60 >/dev/null
	id=$(sed -n 1p "$WORK/$name.out" | cut -d' ' -f2)
	background "$name.json" "$CLI" watch --coordinator "$ADDR" "$id" --output json
	n=0
	while :; do
		n=$(wait_line "$name.json" '"step": *[{]' 120 "$n")
		s=$(step_of "$name.json" "$n")
		(($(num "$s" step) * 4 >= $(num "$s" steps))) && break
	done
	"$CLI" cancel --coordinator "$ADDR" "$id" >&2
	wait_done "$name" 30 >/dev/null
	wait_done "$name.json" 30 >/dev/null
	awk -v r="$(num "$s" samples_per_sec)" 'BEGIN{printf "%.0f", r}'
}
log "showcase job $SHOWCASE with 4 and 2 workers"
SPS4=$(showcase 4)
SPS2=$(showcase 2)
log "showcase samples/s: 4 workers $SPS4, 2 workers $SPS2"

cluster down
leftovers && fail "down -v left the above behind"

# ------------------------------------------------ 6. three etcd members
log "etcd3 override: stopping one etcd member mid-job"
export RINGTRAIN_ETCD3=1
start=$EPOCHREALTIME
cluster up 3
STARTUP3=$(elapsed "$start" "$EPOCHREALTIME")
ADDR=$(cluster addr)
eval "$(cluster client "$WORK/client3")" # a new cluster: a new CA
follow etcd3 "$CI_JOB" --output json
n=$(wait_line etcd3 '"epoch": *[{] *"epoch": *1,' 120)
wait_line etcd3 '"step": *[{]' 60 "$n" >/dev/null
compose stop etcd
log "stopped etcd member etcd in epoch 2"
rc=$(wait_done etcd3 180)
((rc == 0)) || fail "with one etcd member stopped, submit --watch exited $rc: $(cat "$WORK/etcd3.err")"
grep -qE '"state": *"JOB_STATE_SUCCEEDED"' "$WORK/etcd3.out" || fail "the etcd3 job did not succeed"
cluster down
leftovers && fail "down -v left the above behind"
unset RINGTRAIN_ETCD3

# ------------------------------------------------------------ 8. Swarm
log "the stack on a single-node Docker Swarm"
SWARM=$(CLI="$CLI" "$DEPLOY_DIR/swarm-e2e.sh" | tail -n 1)

cat <<EOF

deploy/e2e.sh passed in $((SECONDS - T0))s ($(nproc) cores, ${COMPOSE[*]}, images with $(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.description"}}' "$(image worker)"))
  cluster start-up to healthy (etcd, coordinator, 3 workers registered): ${STARTUP}s; with 3 etcd members: ${STARTUP3}s
  showcase job ($SHOWCASE) samples/s, first quarter of epoch 1: 2 workers $SPS2, 4 workers $SPS4
  worker killed after step $step/$steps of epoch $epoch (the ring's all-reduce failed at step $FAILED_AT): ring re-formed without it after ${RING_AFTER}s, first progress of the redone epoch after ${STEP_AFTER}s
  $CI_JOB: test accuracy $REPORTED% (eval of the downloaded model: $EVALUATED%); ring sizes: $sizes
  coordinator killed after epoch 1 of the same job and started again: resumed, test accuracy $RESUMED%, ended ${RESTART_DONE}s after the kill
  $SWARM
EOF
