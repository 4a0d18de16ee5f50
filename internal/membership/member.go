package membership

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ringtrain/ringtrain/internal/etcdkeys"
)

// Worker is a registered worker.
type Worker struct {
	// ID names the worker; see etcdkeys.ValidID.
	ID string `json:"id"`
	// Addr is where its ring peer service listens, as other workers dial it.
	Addr string `json:"addr"`
	// Started is when it registered.
	Started time.Time `json:"started"`
}

// Snapshot is the membership at one etcd revision, ordered by ID.
type Snapshot struct {
	Members  []Worker
	Revision int64
}

// List returns the registered workers ordered by ID, and the revision
// they were read at: watch from the next one to miss no change.
func List(ctx context.Context, cli *clientv3.Client) ([]Worker, int64, error) {
	resp, err := cli.Get(ctx, etcdkeys.WorkersPrefix, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, fmt.Errorf("membership: listing workers: %w", err)
	}
	members := make([]Worker, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m, err := decode(kv)
		if err != nil {
			return nil, 0, err
		}
		members = append(members, m)
	}
	return members, resp.Header.Revision, nil
}

// decode reads a registration key and value.
func decode(kv *mvccpb.KeyValue) (Worker, error) {
	id, ok := etcdkeys.WorkerID(string(kv.Key))
	if !ok {
		return Worker{}, fmt.Errorf("membership: %q is not a worker key", kv.Key)
	}
	var m Worker
	if err := json.Unmarshal(kv.Value, &m); err != nil {
		return Worker{}, fmt.Errorf("membership: decoding worker %s: %w", id, err)
	}
	if m.ID != id {
		return Worker{}, fmt.Errorf("membership: worker key %s holds ID %q", kv.Key, m.ID)
	}
	return m, nil
}

// sorted returns the members of a set ordered by ID.
func sorted(set map[string]Worker) []Worker {
	out := make([]Worker, 0, len(set))
	for _, m := range set {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Worker) int { return strings.Compare(a.ID, b.ID) })
	return out
}
