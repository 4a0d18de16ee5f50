package tcpnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

var errLinkClosed = errors.New("tcpnet: link closed")

// link is one end of a ring edge: a TCP connection (or a TLS connection
// over one) that carries frames forward and aborts back. Sends write the
// header and the caller's payload in one vectored write; receives read the
// header, ask the sink where the payload goes, and read it straight there,
// or into a reused chunk buffer from which it is added.
type link struct {
	conn   net.Conn
	job    string
	gen    uint64
	peer   string // "predecessor" or "successor", for errors
	linger time.Duration
	forget func(*link) // tells the transport the link is gone

	sendMu     sync.Mutex
	sendClosed bool // guarded by sendMu
	hdr        [headerSize]byte
	vec        [2][]byte
	bufs       net.Buffers
	enc        []byte // a payload in wire order, on a host whose layout is not

	readMu sync.Mutex
	rhdr   [headerSize]byte
	chunk  []byte // payloads that are added, or aborts, are read here

	ended     chan struct{} // closed when a read has failed: the link is over
	endOnce   sync.Once
	closeOnce sync.Once
}

func newLink(conn net.Conn, job string, gen uint64, peer string, linger time.Duration, forget func(*link)) *link {
	return &link{conn: conn, job: job, gen: gen, peer: peer, linger: linger, forget: forget, ended: make(chan struct{})}
}

// Send implements allreduce.Link. It returns once the frame is in the
// kernel's (or TLS's) buffers, so the payload is not read after it.
func (l *link) Send(f *allreduce.Frame) error {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	if l.sendClosed {
		return errLinkClosed
	}
	var payload []byte
	switch f.Kind {
	case allreduce.KindData:
		var ok bool
		if payload, ok = f.Data.WireBytes(); !ok {
			l.enc = f.Data.AppendWire(l.enc[:0])
			payload = l.enc
		}
	case allreduce.KindHeartbeat:
	case allreduce.KindAbort:
		var err error
		if payload, err = (proto.MarshalOptions{}).MarshalAppend(l.enc[:0], allreduce.AbortMessage(f)); err != nil {
			return fmt.Errorf("tcpnet: encode abort: %w", err)
		}
		l.enc = payload
	default:
		return fmt.Errorf("%w: frame kind %d", allreduce.ErrProtocol, f.Kind)
	}
	putHeader(&l.hdr, f, len(payload))
	l.vec = [2][]byte{l.hdr[:], payload}
	l.bufs = l.vec[:]
	if _, err := l.bufs.WriteTo(l.conn); err != nil {
		return fmt.Errorf("tcpnet: send to %s: %w", l.peer, err)
	}
	return nil
}

// Recv implements allreduce.Link.
func (l *link) Recv(f *allreduce.Frame, s allreduce.Sink) error {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	if err := l.read(l.rhdr[:]); err != nil {
		return err
	}
	n, err := parseHeader(&l.rhdr, f, l.job, l.gen)
	if err != nil {
		return err
	}
	switch f.Kind {
	case allreduce.KindData:
		return l.recvData(f, n, s)
	case allreduce.KindHeartbeat:
		if n != 0 {
			return fmt.Errorf("%w: heartbeat with %d bytes", allreduce.ErrProtocol, n)
		}
		return nil
	case allreduce.KindAbort:
		if n > maxAbort {
			return fmt.Errorf("%w: abort of %d bytes", allreduce.ErrProtocol, n)
		}
		b := l.scratch(n)
		if err := l.read(b); err != nil {
			return err
		}
		var a ringtrainv1.Abort
		if err := proto.Unmarshal(b, &a); err != nil {
			return fmt.Errorf("%w: abort: %v", allreduce.ErrProtocol, err)
		}
		allreduce.AbortFrame(&a, f)
		return nil
	}
	return fmt.Errorf("%w: frame kind %d", allreduce.ErrProtocol, f.Kind)
}

// recvData places the payload of n bytes of the data frame f.
func (l *link) recvData(f *allreduce.Frame, n int, s allreduce.Sink) error {
	if s == nil {
		return fmt.Errorf("%w: data frame on a link that carries none", allreduce.ErrProtocol)
	}
	if f.Precision > allreduce.Float64 {
		return fmt.Errorf("%w: unknown precision %d", allreduce.ErrProtocol, f.Precision)
	}
	size := f.Precision.Size()
	if n%size != 0 || n > allreduce.MaxChunkBytes {
		return fmt.Errorf("%w: payload of %d bytes", allreduce.ErrProtocol, n)
	}
	dst, op, err := s.Place(f, n/size)
	if err != nil {
		return err
	}
	if !op.Add {
		if b, ok := dst.WireBytes(); ok {
			return l.read(b)
		}
	}
	b := l.scratch(n)
	if err := l.read(b); err != nil {
		return err
	}
	dst.ApplyWire(b, op)
	return nil
}

// scratch returns the link's chunk buffer, grown to n bytes; it grows to
// the ring's chunk size once and is reused by every call after.
func (l *link) scratch(n int) []byte {
	if cap(l.chunk) < n {
		l.chunk = make([]byte, n)
	}
	return l.chunk[:n]
}

// read fills b from the connection. A failure ends the link.
func (l *link) read(b []byte) error {
	if _, err := io.ReadFull(l.conn, b); err != nil {
		l.endOnce.Do(func() { close(l.ended) })
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: %s closed the link", allreduce.ErrDisconnected, l.peer)
		}
		return fmt.Errorf("tcpnet: receive from %s: %w", l.peer, err)
	}
	return nil
}

// Settle implements allreduce.Link: Send has finished with a payload when
// it returns.
func (l *link) Settle(<-chan struct{}) bool { return true }

// Close implements allreduce.Link. It ends this side's sending, so that
// what was sent, an abort most of all, is delivered, and waits up to the
// linger for the other side to end too, reading and dropping what it
// still sends: closing a socket with unread data resets the connection,
// which can lose what is still on its way to the other side.
func (l *link) Close() error {
	l.closeOnce.Do(func() {
		// A Send blocked on a full window holds sendMu: the other side is
		// not reading, and nothing is waited for.
		if l.sendMu.TryLock() {
			l.sendClosed = true
			if cw, ok := l.conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			l.sendMu.Unlock()
			_ = l.conn.SetReadDeadline(time.Now().Add(l.linger))
			if l.readMu.TryLock() {
				var sink [4 << 10]byte
				for l.read(sink[:]) == nil {
				}
				l.readMu.Unlock()
			} else {
				// A Recv in progress ends by the deadline at the latest.
				t := time.NewTimer(l.linger)
				select {
				case <-l.ended:
				case <-t.C:
				}
				t.Stop()
			}
		}
		l.conn.Close()
		l.forget(l)
	})
	return nil
}
