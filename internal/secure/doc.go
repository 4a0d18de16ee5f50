// Package secure turns ringtrain's one set of TLS flags (--tls-cert,
// --tls-key, --tls-ca, --insecure, and their RINGTRAIN_TLS_* variables)
// into the TLS configurations and gRPC credentials of every link: mutual
// TLS, each side presenting a certificate of the cluster's CA. It says who
// a peer is from its certificate (Identity): the common name is its name
// (a worker's ID), the organizational unit its role.
//
// It does not make certificates (package certs does) nor decide what a
// peer may do (the servers do, from its Identity).
package secure
