# Shared by the deploy scripts (sourced, not run): where things are, which
# compose tool this machine has, and what the images are called.

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$DEPLOY_DIR/.." && pwd)
BUILD_DIR="$DEPLOY_DIR/.build"
: "${GO:=go}"
: "${RINGTRAIN_TAG:=latest}"
export RINGTRAIN_TAG

# image NAME is the tag images.sh gives ringtrain/NAME and the compose file
# runs. The etcd image is always :latest (and also tagged with the etcd
# version go.mod pins): it changes with etcd, not with ringtrain.
image() {
	if [[ "$1" == etcd ]]; then
		echo "ringtrain/etcd:latest"
	else
		echo "ringtrain/$1:$RINGTRAIN_TAG"
	fi
}

# docker_up succeeds when a Docker engine answers.
docker_up() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# find_compose sets COMPOSE to `docker compose` (V2) when the plugin is
# there, else `docker-compose` (V1), and fails when neither is.
find_compose() {
	if docker compose version >/dev/null 2>&1; then
		COMPOSE=(docker compose)
	elif command -v docker-compose >/dev/null 2>&1; then
		COMPOSE=(docker-compose)
	else
		echo "neither 'docker compose' nor 'docker-compose' is installed" >&2
		return 1
	fi
}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
