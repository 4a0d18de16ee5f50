// Package certs makes what a secure ringtrain cluster needs to start: a
// certificate authority, certificates for the coordinator, etcd, the
// workers and a client, signed by it (ECDSA P-256), and the job API's
// tokens. `coordinator certs init` is its command.
//
// It does not load or use certificates: package secure does.
package certs
