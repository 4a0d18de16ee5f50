// Command coordinator trains ringtrain jobs: locally with `run`, and (with
// `serve`) as the service that shards a job across workers. It is also the
// CLI that evaluates models and makes predictions.
//
// It does not start or supervise the workers of a served cluster: those
// are `worker` processes that register in etcd on their own, and `serve`
// computes no gradients. Only `run` starts workers, in its own process.
package main
