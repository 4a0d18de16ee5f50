#!/usr/bin/env bash
# Builds the static binaries on the host and the three scratch images
# (ringtrain/coordinator and ringtrain/worker tagged $RINGTRAIN_TAG, default
# latest; ringtrain/etcd tagged latest and with the etcd version go.mod
# pins). Nothing is pulled.
#
# coordinator and worker are linked statically against Debian's
# libopenblas.a when it is installed (about 15x faster GEMMs); otherwise,
# or with RINGTRAIN_PURE_GO=1, they are pure Go (CGO_ENABLED=0) and this
# says so. etcd is always pure Go.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"

rm -rf "$BUILD_DIR"
mkdir -p "$BUILD_DIR"/{coordinator,worker,etcd/bin}

openblas_static() {
	[[ "${RINGTRAIN_PURE_GO:-}" != 1 ]] || return 1
	local a
	a=$(cc -print-file-name=libopenblas.a 2>/dev/null) || return 1
	[[ "$a" == /* && -e "$a" ]]
}

static_go() { # OUT PKG: a static binary of PKG with OpenBLAS, or pure Go
	local out=$1 pkg=$2
	if [[ "$BLAS" == openblas ]]; then
		# -lm and -lpthread after libopenblas.a: the static link resolves
		# left to right. The LAPACK objects that would need libgfortran
		# are never referenced, so it is not needed.
		CGO_ENABLED=1 "$GO" build -trimpath -tags 'openblas netgo osusergo' \
			-ldflags '-s -w -linkmode external -extldflags "-static -lm -lpthread"' -o "$out" "$pkg"
	else
		CGO_ENABLED=0 "$GO" build -trimpath -ldflags '-s -w' -o "$out" "$pkg"
	fi
}

BLAS=gonum
if openblas_static; then
	BLAS=openblas
fi
log "building static binaries (BLAS: $BLAS)"
if [[ "$BLAS" == openblas ]] && ! static_go "$BUILD_DIR/worker/worker" ./cmd/worker; then
	echo "WARNING: the static OpenBLAS link failed; building the images with pure-Go BLAS (much slower)" >&2
	BLAS=gonum
fi
if [[ "$BLAS" == gonum ]]; then
	static_go "$BUILD_DIR/worker/worker" ./cmd/worker
fi
static_go "$BUILD_DIR/coordinator/coordinator" ./cmd/coordinator
# The images' health checks run the binaries' own healthcheck subcommand.
for name in coordinator worker; do
	if ! "$BUILD_DIR/$name/$name" healthcheck --help >/dev/null 2>&1; then
		echo "$name has no healthcheck subcommand: cmd/$name/main.go's newRoot must add healthcheck.Command (internal/healthcheck)" >&2
		exit 1
	fi
done
CGO_ENABLED=0 "$GO" build -trimpath -ldflags '-s -w' -o "$BUILD_DIR/etcd/bin/etcd" ./cmd/etcd
# The same file under a second name: the build context and a directory
# COPY keep the hard link, so the image holds it once.
ln "$BUILD_DIR/etcd/bin/etcd" "$BUILD_DIR/etcd/bin/etcdctl"
if [[ "$BLAS" == gonum ]]; then
	echo "NOTE: images use pure-Go BLAS (CGO_ENABLED=0); install libopenblas-dev for the fast build" >&2
fi

etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' go.mod)
for name in coordinator worker etcd; do
	log "building image $(image "$name")"
	old=$(docker image inspect --format '{{.Id}}' "$(image "$name")" 2>/dev/null) || old=
	# The legacy builder's deprecation notice is noise; show stderr only
	# when the build fails.
	if ! out=$(docker build -q -t "$(image "$name")" --label "org.opencontainers.image.description=ringtrain $name ($BLAS)" \
		-f "$DEPLOY_DIR/Dockerfile.$name" "$BUILD_DIR/$name" 2>&1); then
		echo "$out" >&2
		exit 1
	fi
	if [[ "$name" == etcd ]]; then
		docker tag "$(image etcd)" "ringtrain/etcd:$etcd_version"
	fi
	# The image this one replaces, unless a container or another tag uses it.
	if [[ -n "$old" && "$old" != "$(docker image inspect --format '{{.Id}}' "$(image "$name")")" ]]; then
		docker rmi "$old" >/dev/null 2>&1 || true
	fi
done
docker images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep '^ringtrain/' >&2
