// Package healthcheck is the `healthcheck` subcommand both binaries carry
// for container health checks: scratch images have no shell or curl, so the
// image's own binary asks the standard gRPC health service. It checks; it
// serves nothing.
package healthcheck
