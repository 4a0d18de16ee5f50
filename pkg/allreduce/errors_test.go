package allreduce

import (
	"testing"

	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// TestReasons keeps the wire's AbortReason and the sentinels in step.
func TestReasons(t *testing.T) {
	for i, s := range sentinels {
		name := ringtrainv1.AbortReason(i + 1).String()
		if reasonOf(s) != int32(i+1) || name == "" || name == "ABORT_REASON_UNSPECIFIED" {
			t.Errorf("sentinel %v: reason %d (%s)", s, reasonOf(s), name)
		}
	}
	if n := len(ringtrainv1.AbortReason_name); n != len(sentinels)+1 {
		t.Errorf("%d reasons on the wire, %d sentinels", n-1, len(sentinels))
	}
}
