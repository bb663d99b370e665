package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress tells a person watching how far a scenario has come: a bar that
// rewrites one line on a terminal, a line per quarter otherwise (logs, CI).
type progress struct {
	w   io.Writer
	bar bool

	name        string
	total, done int
	quarter     int
	started     time.Time
	drawn       time.Time // when the bar was last drawn
}

func (p *progress) begin(name string, total int) {
	p.name, p.total, p.done, p.quarter, p.started, p.drawn = name, total, 0, 0, time.Now(), time.Now()
	if p.w == nil {
		return
	}
	if p.bar {
		p.draw("")
		return
	}
	if total > 0 {
		fmt.Fprintf(p.w, "bench: %s: %d steps\n", name, total)
	} else {
		fmt.Fprintf(p.w, "bench: %s: started\n", name)
	}
}

// step records one finished step; detail says what it was.
func (p *progress) step(detail string) {
	p.done++
	if p.w == nil {
		return
	}
	if p.bar {
		// A terminal needs no more than a few frames a second.
		if time.Since(p.drawn) >= 100*time.Millisecond || p.done == p.total {
			p.draw(detail)
		}
		return
	}
	switch {
	case p.total > 0:
		if q := 4 * p.done / p.total; q > p.quarter && p.done < p.total {
			p.quarter = q
			fmt.Fprintf(p.w, "bench: %s: %d/%d (%s)\n", p.name, p.done, p.total, detail)
		}
	case time.Since(p.drawn) >= 10*time.Second:
		// Open-ended (a duration): a line every ten seconds.
		p.drawn = time.Now()
		fmt.Fprintf(p.w, "bench: %s: %d steps, %s\n", p.name, p.done, time.Since(p.started).Round(time.Second))
	}
}

// note prints a message between the progress output, e.g. a backend that
// failed.
func (p *progress) note(format string, args ...any) {
	if p.w == nil {
		return
	}
	if p.bar {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "bench: "+format+"\n", args...)
	if p.bar && p.name != "" {
		p.draw("")
	}
}

// end closes the output of scenario name, begun or not.
func (p *progress) end(name string) {
	if p.name != name {
		p.name, p.started = name, time.Now()
	}
	if p.w == nil {
		return
	}
	el := time.Since(p.started).Round(100 * time.Millisecond)
	if p.bar {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "bench: %s: done in %s\n", p.name, el)
	p.name = ""
}

func (p *progress) draw(detail string) {
	const width = 30
	p.drawn = time.Now()
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r\033[K%-10s %d steps, %s %s", p.name, p.done, time.Since(p.started).Round(time.Second), detail)
		return
	}
	filled := min(width, width*p.done/p.total)
	fmt.Fprintf(p.w, "\r\033[K%-10s [%s%s] %d/%d %s", p.name,
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.done, p.total, detail)
}
