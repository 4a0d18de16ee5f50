package grpcnet

import (
	"testing"
	"time"
)

// TestUnsent checks the bookkeeping behind Settle: a wait ends when gRPC
// has released every payload it was handed, or when stop is closed.
func TestUnsent(t *testing.T) {
	var u unsent
	if !u.wait(nil) {
		t.Fatal("wait with nothing handed to gRPC: false, want true at once")
	}
	payload := make([]byte, 4096)
	a, b := u.track(payload), u.track(payload)
	stop := make(chan struct{})
	close(stop)
	if u.wait(stop) {
		t.Fatal("wait with two payloads unreleased and stop closed: true, want false")
	}
	a.Free()
	done := make(chan bool)
	go func() { done <- u.wait(make(chan struct{})) }()
	select {
	case v := <-done:
		t.Fatalf("wait returned %v with a payload unreleased", v)
	case <-time.After(50 * time.Millisecond):
	}
	b.Free()
	select {
	case v := <-done:
		if !v {
			t.Fatal("wait after the last release: false, want true")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return after the last release")
	}
	// The handles are reused, and hold no reference to released memory.
	c := u.track(payload)
	if len(u.free) != 1 {
		t.Errorf("%d free handles after reusing one of two, want 1", len(u.free))
	}
	c.Free()
	for i, p := range u.free {
		if *p != nil {
			t.Errorf("free handle %d still refers to a payload", i)
		}
	}
	if !u.wait(nil) {
		t.Error("wait after every release: false, want true")
	}
}

// TestUnsentStaleWakeup leaves behind the wake-up of a wait that stop
// ended (the last Put saw the wait under way and signalled it after the
// wait had chosen stop): the next wait, with a payload unreleased, must
// not take it for its own.
func TestUnsentStaleWakeup(t *testing.T) {
	var u unsent
	payload := make([]byte, 4096)
	a := u.track(payload)
	u.mu.Lock()
	u.idle = make(chan bool, 1)
	u.waiting = true // as the losing side of wait's select leaves it
	u.mu.Unlock()
	a.Free() // signals a wait that is no longer there
	b := u.track(payload)
	done := make(chan bool, 1)
	go func() { done <- u.wait(make(chan struct{})) }()
	select {
	case v := <-done:
		t.Fatalf("wait returned %v with a payload unreleased", v)
	case <-time.After(100 * time.Millisecond):
	}
	b.Free()
	if !<-done {
		t.Fatal("wait after the last release: false, want true")
	}
}
