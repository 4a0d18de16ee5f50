// Package k8s holds ringtrain's Kubernetes manifests (etcd.yaml,
// coordinator.yaml, worker.yaml) and the test that keeps them honest: every
// manifest decodes strictly into the official k8s.io/api types, and images,
// ports, environment, arguments and probes agree with
// deploy/docker-compose.yml. No cluster runs them here; see README.md.
package k8s
