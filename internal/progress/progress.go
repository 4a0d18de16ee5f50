package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Update is one observation of a run. Zero fields are not shown.
type Update struct {
	Epoch, Epochs int
	Step, Steps   int
	Loss          float64
	SamplesPerSec float64
	ETA           time.Duration
	Workers       int
}

// Printer draws updates to w. It is safe for concurrent use.
type Printer struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	last     time.Time
	drawn    bool
	interval time.Duration
}

// New returns a Printer; tty selects the redrawn bar.
func New(w io.Writer, tty bool) *Printer {
	return &Printer{w: w, tty: tty, interval: 100 * time.Millisecond}
}

// Step redraws the bar, at most every 100 ms. Without a terminal it prints
// nothing: per-step lines would flood a log.
func (p *Printer) Step(u Update) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < p.interval && u.Step != u.Steps {
		return
	}
	p.last = now
	fmt.Fprintf(p.w, "\r\033[K%s", Bar(u, 24))
	p.drawn = true
}

// Line prints a whole line, first clearing the bar if one is drawn.
func (p *Printer) Line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// Bar renders u as one line with a bar width cells wide.
func Bar(u Update, width int) string {
	frac := 0.0
	if u.Steps > 0 {
		frac = float64(u.Step) / float64(u.Steps)
	}
	fill := int(frac * float64(width))
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d/%d [%s%s] step %d/%d", u.Epoch, u.Epochs,
		strings.Repeat("=", fill), strings.Repeat(" ", width-fill), u.Step, u.Steps)
	if u.Loss != 0 {
		fmt.Fprintf(&b, " loss %.4f", u.Loss)
	}
	if u.SamplesPerSec > 0 {
		fmt.Fprintf(&b, " %s samples/s", Count(u.SamplesPerSec))
	}
	if u.Workers > 0 {
		fmt.Fprintf(&b, " workers %d", u.Workers)
	}
	if u.ETA > 0 {
		fmt.Fprintf(&b, " ETA %s", u.ETA.Round(time.Second))
	}
	return b.String()
}

// Count formats n with thousands separators: 93,412.
func Count(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
