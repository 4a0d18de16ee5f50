// Command etcd is the etcd server at the version go.mod pins, built from
// the module graph ringtrain already has, for the scratch image the
// compose deployment runs (`go install go.etcd.io/etcd/server/v3@...`
// does not work because of that module's replace directives).
//
// Invoked under the name etcdctl (the image links it there) it does one
// thing of etcdctl's, the health check a container probe needs:
// `etcdctl endpoint health [--endpoints=URL,...]`, which asks each
// endpoint's /health and exits 0 only when every one answers healthy. The
// same probe then works against this image and the official one.
//
// It adds nothing to etcd: it knows none of ringtrain's keys and implements
// no other etcdctl command. Outside the images nothing needs it:
// `coordinator serve` embeds its own etcd unless given --etcd.
package main
