#!/bin/sh
# check-proto.sh regenerates the protobuf Go code in a scratch copy of the
# module and fails if it differs from the committed code, so a .proto edited
# without "make proto" (or generated with other tool versions) fails CI.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# go.mod and go.sum pin protoc-gen-go and protoc-gen-go-grpc; nothing else
# of the module is needed to regenerate.
cp "$root/go.mod" "$root/go.sum" "$tmp/"
cp -R "$root/proto" "$tmp/proto"
# Delete the generated files first so that a file whose .proto is gone
# shows up as a difference too.
find "$tmp/proto" -name '*.pb.go' -delete

(cd "$tmp" && go generate ./proto/...)

if ! diff -r -u "$root/proto" "$tmp/proto"; then
	echo "check-proto: generated code is stale; run 'make proto' (go generate ./proto/...) with protoc $(protoc --version)" >&2
	exit 1
fi
echo "check-proto: generated code is up to date"
