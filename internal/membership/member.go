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

// Member is a registered worker.
type Member struct {
	// ID names the worker; see etcdkeys.ValidID.
	ID string `json:"id"`
	// Addr is where its ring peer service listens, as other workers dial it.
	Addr string `json:"addr"`
	// Started is when it registered.
	Started time.Time `json:"started"`
}

// Snapshot is the membership at one etcd revision, ordered by ID.
type Snapshot struct {
	Members  []Member
	Revision int64
}

// List returns the registered workers ordered by ID, and the revision
// they were read at: watch from the next one to miss no change.
func List(ctx context.Context, cli *clientv3.Client) ([]Member, int64, error) {
	resp, err := cli.Get(ctx, etcdkeys.WorkersPrefix, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, fmt.Errorf("membership: listing workers: %w", err)
	}
	members := make([]Member, 0, len(resp.Kvs))
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
func decode(kv *mvccpb.KeyValue) (Member, error) {
	id, ok := etcdkeys.WorkerID(string(kv.Key))
	if !ok {
		return Member{}, fmt.Errorf("membership: %q is not a worker key", kv.Key)
	}
	var m Member
	if err := json.Unmarshal(kv.Value, &m); err != nil {
		return Member{}, fmt.Errorf("membership: decoding worker %s: %w", id, err)
	}
	if m.ID != id {
		return Member{}, fmt.Errorf("membership: worker key %s holds ID %q", kv.Key, m.ID)
	}
	return m, nil
}

// sorted returns the members of a set ordered by ID.
func sorted(set map[string]Member) []Member {
	out := make([]Member, 0, len(set))
	for _, m := range set {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}
