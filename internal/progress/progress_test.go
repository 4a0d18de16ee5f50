package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	tests := []struct {
		u    Update
		want string
	}{
		{Update{Epoch: 1, Epochs: 3, Step: 5, Steps: 10}, "epoch 1/3 [=====     ] step 5/10"},
		{Update{Epoch: 3, Epochs: 3, Step: 10, Steps: 10, Loss: 0.25, SamplesPerSec: 93412.4, ETA: 61400 * time.Millisecond, Workers: 2},
			"epoch 3/3 [==========] step 10/10 loss 0.2500 93,412 samples/s workers 2 ETA 1m1s"},
	}
	for i, tc := range tests {
		if got := Bar(tc.u, 10); got != tc.want {
			t.Errorf("test %d: got %q want %q", i, got, tc.want)
		}
	}
}

func TestCount(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := Count(in); got != want {
			t.Errorf("Count(%v): got %q want %q", in, got, want)
		}
	}
}

func TestPlainOutputHasNoBar(t *testing.T) {
	var buf bytes.Buffer
	p := New(&buf, false)
	p.Step(Update{Epoch: 1, Epochs: 1, Step: 1, Steps: 1})
	p.Line("epoch %d done", 1)
	if got := buf.String(); got != "epoch 1 done\n" {
		t.Errorf("got %q", got)
	}
	buf.Reset()
	p = New(&buf, true)
	p.Step(Update{Epoch: 1, Epochs: 1, Step: 1, Steps: 2})
	p.Line("done")
	if got := buf.String(); !strings.Contains(got, "step 1/2") || !strings.HasSuffix(got, "\r\033[Kdone\n") {
		t.Errorf("tty output %q: want a bar cleared before the line", got)
	}
}
