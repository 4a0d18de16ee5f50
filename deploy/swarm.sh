#!/usr/bin/env bash
# Prints the compose file named as $1 (default docker-compose.yml; convert
# the etcd3 override the same way and pass it to `docker stack deploy` as a
# second -c) in the form `docker stack deploy` accepts. Its loader (docker/cli)
# validates `depends_on` as a plain list, so the conditions go: Swarm
# ignores depends_on anyway, and the services retry until their
# dependencies answer. See docs/deploy.md.
#
#   deploy/swarm.sh docker-compose.yml > stack.yml
#   deploy/swarm.sh docker-compose.etcd3.yml > stack-etcd3.yml
#
# SWARM_PORTS=host publishes the ports on the node that runs the task
# (`mode: host`) instead of Swarm's routing mesh: for engines without IPVS,
# with deploy/docker-stack.dnsrr.yml (see docs/deploy.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
file=${1:-docker-compose.yml}
[[ "$file" == */* ]] || file="$DEPLOY_DIR/$file"

# Under a `depends_on:` key, "NAME:" becomes "- NAME" and its
# "condition: ..." line is dropped. With host ports, each "PUB:TARGET"
# under `ports:` becomes the long form with mode: host.
awk '
	/^ *ports: *$/ { print; match($0, /^ */); ports = RLENGTH; next }
	ports >= 0 {
		match($0, /^ */)
		if (RLENGTH <= ports && $0 !~ /^ *$/) { ports = -1 }
		else if (host && match($0, /^ *- "?[^"]*:[0-9]+"?$/)) {
			line = $0; sub(/^ *- "?/, "", line); sub(/"$/, "", line)
			target = line; sub(/.*:/, "", target); pub = substr(line, 1, length(line) - length(target) - 1)
			ind = sprintf("%" ports + 2 "s", "")
			printf "%s- target: %s\n%s  published: %s\n%s  mode: host\n", ind, target, ind, pub, ind
			next
		}
	}
	/^ *depends_on: *$/ { print; match($0, /^ */); dep = RLENGTH; next }
	dep >= 0 {
		match($0, /^ */)
		if (RLENGTH <= dep && $0 !~ /^ *$/) { dep = -1 }
		else if ($0 ~ /^ *condition:/) { next }
		else if (RLENGTH == dep + 2) { sub(/:[ ]*$/, ""); sub(/^ */, "&- "); print; next }
	}
	{ print }
' dep=-1 ports=-1 host="$([[ "${SWARM_PORTS:-}" == host ]] && echo 1 || echo 0)" "$file"
