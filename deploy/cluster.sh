#!/usr/bin/env bash
# Brings the compose cluster up and down; what `make cluster-up` and
# `make cluster-down` run.
#
#   deploy/cluster.sh up [WORKERS]   up -d --scale worker=WORKERS (default 3), then
#                                    wait until every container is healthy and the
#                                    coordinator lists WORKERS workers
#   deploy/cluster.sh down           down -v: containers, network and volumes
#   deploy/cluster.sh compose ARGS   compose with this cluster's files (scale, logs, ps)
#   deploy/cluster.sh addr           the coordinator's address on this host
#   deploy/cluster.sh client DIR     copy the CLI's certificate, key, CA and tokens
#                                    into DIR and print the exports that use them:
#                                    eval "$(deploy/cluster.sh client ~/.ringtrain)"
#
# Uses `docker compose` (V2) when installed, else `docker-compose` (V1).
# RINGTRAIN_ETCD3=1 adds docker-compose.etcd3.yml (three etcd members);
# COMPOSE_PROJECT_NAME, RINGTRAIN_PORT and the settings the compose file
# lists are passed through. CLUSTER_TIMEOUT (seconds, 120) bounds `up`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

find_compose
FILES=(-f "$DEPLOY_DIR/docker-compose.yml")
if [[ "${RINGTRAIN_ETCD3:-}" == 1 ]]; then
	FILES+=(-f "$DEPLOY_DIR/docker-compose.etcd3.yml")
fi
compose() { "${COMPOSE[@]}" "${FILES[@]}" "$@"; }

# addr prints host:port of the coordinator's published gRPC port.
addr() {
	local hp
	hp=$(compose port coordinator 7070 | tail -n 1)
	[[ -n "$hp" ]] || { echo "coordinator publishes no port: is the cluster up?" >&2; return 1; }
	echo "localhost:${hp##*:}"
}

# healthy succeeds when every container of the cluster is running and
# healthy, there are WORKERS workers, and the coordinator lists WORKERS
# registered workers.
healthy() {
	local want=$1 ids states coord n
	# Not the one-shot certs service: it has done its work and exited.
	ids=$(compose ps -q $(compose config --services | grep -vx certs))
	[[ -n "$ids" ]] || return 1
	# shellcheck disable=SC2086 # ids are one word each
	states=$(docker inspect --format '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' $ids)
	if grep -qv '^running/healthy$' <<<"$states"; then
		return 1
	fi
	n=$(compose ps -q worker | grep -c .) || true
	[[ "$n" == "$want" ]] || return 1
	coord=$(compose ps -q coordinator)
	# The image's own CLI asks the coordinator which workers registered.
	n=$(docker exec "$coord" /usr/local/bin/coordinator workers --coordinator localhost:7070 --output json 2>/dev/null | grep -o '"addr"' | grep -c .) || true
	[[ "$n" == "$want" ]]
}

# client DIR copies from the coordinator's container what the CLI on this
# host needs (the client certificate, its key, the CA, the admin and read
# tokens) into DIR, private to this user, and prints the exports that use
# them, the admin token by default.
client() {
	local dir=$1 coord f
	coord=$(compose ps -q coordinator)
	[[ -n "$coord" ]] || { echo "no coordinator container: is the cluster up?" >&2; return 1; }
	mkdir -p "$dir"
	chmod 700 "$dir"
	for f in ca.crt client.crt client.key admin.token read.token; do
		docker cp "$coord:/certs/$f" "$dir/$f" >/dev/null
	done
	dir=$(cd "$dir" && pwd)
	printf 'export RINGTRAIN_TLS_CA=%q RINGTRAIN_TLS_CERT=%q RINGTRAIN_TLS_KEY=%q RINGTRAIN_TOKEN=%q\n' \
		"$dir/ca.crt" "$dir/client.crt" "$dir/client.key" "@$dir/admin.token"
}

up() {
	local workers=${1:-3} deadline start
	start=$(date +%s.%N)
	for name in coordinator worker; do
		docker image inspect "$(image "$name")" >/dev/null 2>&1 ||
			{ echo "image $(image "$name") is missing: run deploy/images.sh (make images) first" >&2; return 1; }
	done
	compose up -d --scale "worker=$workers"
	deadline=$((SECONDS + ${CLUSTER_TIMEOUT:-120}))
	until healthy "$workers"; do
		if ((SECONDS >= deadline)); then
			echo "cluster not healthy after ${CLUSTER_TIMEOUT:-120}s:" >&2
			compose ps >&2
			return 1
		fi
		sleep 0.25
	done
	log "cluster healthy with $workers workers in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s; coordinator at $(addr)"
}

case "${1:-}" in
up) up "${2:-3}" ;;
down) compose down -v --remove-orphans ;;
compose)
	shift
	compose "$@"
	;;
addr) addr ;;
client)
	[[ -n "${2:-}" ]] || { echo "usage: deploy/cluster.sh client DIR" >&2; exit 2; }
	client "$2"
	;;
*)
	sed -n '2,19s/^# \{0,1\}//p' "$0" >&2
	exit 2
	;;
esac
