#!/usr/bin/env bash
# The stack on a single-node Docker Swarm on this machine (issue 13): what
# docs/deploy.md tells a Swarm user to run, end to end.
#
#  1. join this engine to a swarm of its own (docker swarm init) unless it
#     is in one already; label the node for the placement constraints of
#     deploy/docker-stack.yml;
#  2. docker stack deploy the output of deploy/swarm.sh with
#     deploy/docker-stack.yml (mutual TLS, certificates made by the one-shot
#     certs service, workers issued theirs by the coordinator), and
#     deploy/docker-stack.dnsrr.yml where the kernel lacks IPVS;
#  3. docker service scale the workers from 3 to 2 and train
#     deploy/ci-job.yaml to its accuracy threshold with the host CLI;
#  4. docker stack rm, the stack's volumes too, and leave the engine as it
#     was found: out of the swarm if it was not in one, the labels removed.
#
# It expects the images deploy/images.sh builds (e2e.sh runs it first) and
# bin/coordinator. Without a Docker engine it prints SKIP and exits 0; an
# engine that is in a swarm it cannot use (a worker node, or an error
# state) is a SKIP too, said loudly.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"

if ! docker_up; then
	echo "SKIP: deploy/swarm-e2e.sh: no Docker engine answers; the Swarm test did NOT run" >&2
	exit 0
fi
state=$(docker info --format '{{.Swarm.LocalNodeState}}/{{.Swarm.ControlAvailable}}')
case "$state" in
inactive/*) INIT=1 ;;
active/true) INIT=0 ;;
*)
	echo "SKIP: deploy/swarm-e2e.sh: this engine's swarm state is $state (not a manager, nor out of a swarm); the Swarm test did NOT run" >&2
	exit 0
	;;
esac

T0=$SECONDS
STACK="ringtrain-swarm-$$"
WORK=$(mktemp -d)
CLI=${CLI:-bin/coordinator}
CI_JOB=${RINGTRAIN_E2E_JOB:-deploy/ci-job.yaml}
LABELS=() # node labels this script added
GWBRIDGE=0 # whether docker_gwbridge was there before
docker network inspect docker_gwbridge >/dev/null 2>&1 && GWBRIDGE=1

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# free_port prints a TCP port nothing on this machine listens on.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

# leftovers lists the stack's services, containers, networks and volumes,
# and succeeds when there are any.
leftovers() {
	local f="label=com.docker.stack.namespace=$STACK" out
	out=$(docker ps -aq --filter "$f"; docker network ls -q --filter "$f"; docker volume ls -q --filter "$f")
	if ((INIT == 0)); then
		out+=$(docker service ls -q --filter "$f")
	fi
	[[ -n "$out" ]] && echo "$out"
}

# remove takes the stack down and waits until its containers are gone, then
# removes its volumes (stack rm leaves them).
remove() {
	docker stack rm "$STACK" >/dev/null 2>&1 || true
	local deadline=$((SECONDS + 90)) f="label=com.docker.stack.namespace=$STACK"
	while [[ -n "$(docker ps -aq --filter "$f")$(docker network ls -q --filter "$f")" ]] && ((SECONDS < deadline)); do
		sleep 1
	done
	# shellcheck disable=SC2046 # volume names are one word each
	docker volume rm $(docker volume ls -q --filter "$f") >/dev/null 2>&1 || true
}

cleanup() {
	local rc=$? node
	trap - EXIT INT TERM
	if ((rc != 0)); then
		echo "--- deploy/swarm-e2e.sh failed (exit $rc); the stack's tasks and the coordinator's log:" >&2
		docker stack ps --no-trunc "$STACK" >&2 2>/dev/null || true
		docker service logs --tail 40 "${STACK}_coordinator" >&2 2>/dev/null || true
	fi
	remove
	node=$(docker info --format '{{.Swarm.NodeID}}' 2>/dev/null || true)
	if ((INIT == 1)); then
		docker swarm leave --force >/dev/null 2>&1 || true
		# swarm init made the bridge to its overlays; leaving keeps it.
		if ((GWBRIDGE == 0)); then
			docker network rm docker_gwbridge >/dev/null 2>&1 || true
		fi
	elif ((${#LABELS[@]} > 0)); then
		for l in "${LABELS[@]}"; do docker node update --label-rm "$l" "$node" >/dev/null 2>&1 || true; done
	fi
	rm -rf "$WORK"
	if leftovers >&2; then
		echo "FAIL: stack $STACK left the above behind" >&2
		rc=1
	fi
	if ((INIT == 1)) && [[ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != inactive ]]; then
		echo "FAIL: the engine is still in the swarm this test made" >&2
		rc=1
	fi
	if ((GWBRIDGE == 0)) && docker network inspect docker_gwbridge >/dev/null 2>&1; then
		echo "FAIL: docker_gwbridge, which swarm init made, is left" >&2
		rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. swarm
if ((INIT == 1)); then
	log "swarm: docker swarm init (the engine was not in a swarm; it leaves at the end)"
	docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi
node=$(docker info --format '{{.Swarm.NodeID}}')
for l in ringtrain.etcd ringtrain.coordinator; do
	if [[ -z "$(docker node inspect --format "{{index .Spec.Labels \"$l\"}}" "$node")" ]]; then
		docker node update --label-add "$l=1" "$node" >/dev/null
		LABELS+=("$l")
	fi
done

# ---------------------------------------------------------------- 2. deploy
export RINGTRAIN_PORT RINGTRAIN_METRICS_PORT
RINGTRAIN_PORT=$(free_port)
RINGTRAIN_METRICS_PORT=$(free_port)
ADDR=localhost:$RINGTRAIN_PORT
# Swarm's virtual IPs and routing mesh need the kernel's IPVS; where it is
# missing, the stack goes with deploy/docker-stack.dnsrr.yml instead.
MESH="routing mesh"
files=(-c "$WORK/stack.yml" -c "$DEPLOY_DIR/docker-stack.yml")
if [[ ! -e /proc/net/ip_vs ]]; then
	MESH="host-mode ports and DNS round-robin (this kernel has no IPVS for the routing mesh)"
	export SWARM_PORTS=host
	files+=(-c "$DEPLOY_DIR/docker-stack.dnsrr.yml")
fi
"$DEPLOY_DIR/swarm.sh" docker-compose.yml >"$WORK/stack.yml"
start=$EPOCHREALTIME
docker stack deploy "${files[@]}" "$STACK" >/dev/null 2>&1
log "swarm: stack $STACK deployed with $MESH; coordinator at $ADDR"

# The coordinator's container, once it runs; the CLI's certificate and
# token from it (as deploy/cluster.sh client does for compose).
deadline=$((SECONDS + 180))
coord=""
until [[ -n "$coord" ]] && docker exec "$coord" /usr/local/bin/coordinator healthcheck >/dev/null 2>&1; do
	((SECONDS < deadline)) || fail "the coordinator did not become healthy within 180 s"
	sleep 1
	coord=$(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_coordinator" | head -n 1)
done
mkdir -p "$WORK/client"
for f in ca.crt client.crt client.key admin.token; do
	docker cp "$coord:/certs/$f" "$WORK/client/$f" >/dev/null
done
export RINGTRAIN_TLS_CA=$WORK/client/ca.crt RINGTRAIN_TLS_CERT=$WORK/client/client.crt RINGTRAIN_TLS_KEY=$WORK/client/client.key RINGTRAIN_TOKEN=@$WORK/client/admin.token

# registered N: wait until the coordinator lists N workers.
registered() {
	local n deadline=$((SECONDS + 180))
	while :; do
		n=$("$CLI" workers --coordinator "$ADDR" --output json 2>/dev/null | grep -o '"addr"' | grep -c .) || true
		[[ "$n" == "$1" ]] && return
		((SECONDS < deadline)) || fail "$n workers registered after 180 s, want $1"
		sleep 1
	done
}
registered 3
STARTUP=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
log "swarm: 3 workers registered ${STARTUP}s after stack deploy"

# ---------------------------------------------------------------- 3. scale, train
docker service scale "${STACK}_worker=2" >/dev/null 2>&1
registered 2
log "swarm: scaled to 2 workers; training $CI_JOB"
if ! "$CLI" submit --coordinator "$ADDR" -f "$CI_JOB" --min-workers 2 --watch >"$WORK/job.out" 2>&1; then
	tail -n 20 "$WORK/job.out" >&2
	fail "the job on the Swarm did not meet its accuracy threshold"
fi
ACC=$(grep -o 'test accuracy [0-9.]*%' "$WORK/job.out" | tail -n 1)
log "swarm: $CI_JOB: $ACC"

# ---------------------------------------------------------------- 4. remove
remove
leftovers && fail "docker stack rm left the above behind"
echo
echo "deploy/swarm-e2e.sh passed in $((SECONDS - T0))s: a single-node swarm ($( ((INIT == 1)) && echo "made for the test, left afterwards" || echo "the engine's own"), $MESH); 3 workers registered ${STARTUP}s after deploy; scaled to 2; $CI_JOB $ACC"
