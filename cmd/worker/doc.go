// Command worker joins a ringtrain cluster: it registers in etcd, serves
// the ring peer service, and trains the epochs the coordinator plans for it.
//
// It takes no job specs and reads no data files: the job and its data come
// from the coordinator, and it keeps nothing on disk, since the coordinator
// holds the jobs, checkpoints and models.
package main
