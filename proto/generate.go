// Package proto holds ringtrain's protobuf definitions; the generated Go code
// sits next to each .proto file and is committed.
//
// Regenerate with "go generate ./proto/..." (or "make proto"). protoc comes
// from the system (Debian's protobuf-compiler, 3.21.12); the Go plugins are
// the versions pinned as tools in go.mod, which "go tool -n" builds and
// locates, so every machine produces the same bytes.
// scripts/check-proto.sh fails when the committed code is stale.
package proto

//go:generate sh -c "protoc -I . --plugin=protoc-gen-go=\"$(go tool -n protoc-gen-go)\" --plugin=protoc-gen-go-grpc=\"$(go tool -n protoc-gen-go-grpc)\" --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative ringtrain/v1/*.proto"
