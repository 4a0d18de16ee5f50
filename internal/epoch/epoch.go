package epoch

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/ringtrain/ringtrain/pkg/precision"
)

// Member is one worker of a ring, at the index of its rank.
type Member struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// Plan is one attempt at one epoch of one job.
type Plan struct {
	Job string `json:"job"`
	// Epoch counts from 0; the plan trains epoch Epoch+1 of the job.
	Epoch      int      `json:"epoch"`
	Generation uint64   `json:"generation"`
	Members    []Member `json:"members"`
	// Checksum is the start checkpoint's Checksum.
	Checksum string `json:"checksum"`
}

// Rank returns id's rank in the plan, or -1 when it is not a member.
func (p *Plan) Rank(id string) int {
	return slices.IndexFunc(p.Members, func(m Member) bool { return m.ID == id })
}

// IDs returns the members' IDs in rank order.
func (p *Plan) IDs() []string {
	ids := make([]string, len(p.Members))
	for i, m := range p.Members {
		ids[i] = m.ID
	}
	return ids
}

// Addrs returns the members' addresses in rank order.
func (p *Plan) Addrs() []string {
	a := make([]string, len(p.Members))
	for i, m := range p.Members {
		a[i] = m.Addr
	}
	return a
}

// Marshal encodes the plan for etcd.
func (p *Plan) Marshal() string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("epoch: marshal plan: %v", err))
	}
	return string(b)
}

// Unmarshal decodes a plan read from etcd.
func Unmarshal(b []byte) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode epoch plan: %w", err)
	}
	if p.Job == "" || len(p.Members) == 0 || p.Epoch < 0 {
		return nil, fmt.Errorf("decode epoch plan: incomplete plan %q", b)
	}
	return &p, nil
}

// Checksum is a digest of a replica's state: its parameters, its optimiser
// state and its step count. Equal checksums mean bitwise-equal replicas.
func Checksum[T precision.Float](params, optState []T, steps int64) string {
	h := sha256.New()
	var buf [8]byte
	wide := unsafe.Sizeof(T(0)) == 8
	write := func(v []T) {
		binary.LittleEndian.PutUint64(buf[:], uint64(len(v)))
		h.Write(buf[:])
		b := make([]byte, 0, 8*1024)
		for len(v) > 0 {
			n := min(len(v), 1024)
			b = b[:0]
			for _, x := range v[:n] {
				if wide {
					b = binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(x)))
				} else {
					b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(x)))
				}
			}
			h.Write(b)
			v = v[n:]
		}
	}
	write(params)
	write(optState)
	binary.LittleEndian.PutUint64(buf[:], uint64(steps))
	h.Write(buf[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}
