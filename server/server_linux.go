package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"gosandbox/sandbox"
	"gosandbox/sandbox/batch"
)

// Defaults of Options.
const (
	DefaultQueue      = 64
	DefaultMaxBody    = 16 << 20
	DefaultRetryAfter = time.Second
	// A request's body must arrive whole within DefaultBodyTimeout of its
	// headers, and its answer must be taken within DefaultWriteTimeout:
	// past them the request's admission (a run slot or a queue place) is
	// given back. A keep-alive connection with no request is closed after
	// DefaultIdleTimeout.
	DefaultBodyTimeout  = 30 * time.Second
	DefaultWriteTimeout = 30 * time.Second
	DefaultIdleTimeout  = time.Minute
	// DefaultMaxAnswer bounds what one job could capture in all
	// (batch.Options.MaxCaptured): about what its answer holds.
	DefaultMaxAnswer = 512 << 20
	// DefaultMaxConns bounds the connections served at once.
	DefaultMaxConns = 1024
)

// DefaultCeiling bounds the limits a /run job may ask for, where
// Options.Ceiling sets none: what a program prints and the files copied
// out are held in the server's memory, which no box limit charges, and a
// run holds its slot (and the drain) up to its wall limit.
var DefaultCeiling = sandbox.Limits{Output: 64 << 20, Tmpfs: 256 << 20, Wall: 10 * time.Minute}

// PoolReporter is what a pooled runner may report for the metrics and the
// health check: boxes kept, idle now, replaced so far, and the last
// failure to build or reset one (nil when none).
type PoolReporter interface {
	PoolStats() (size, idle int, replaced uint64, lastErr error)
}

// Options configure a Server.
type Options struct {
	// Runner runs the jobs; the caller opens and closes it.
	Runner sandbox.Runner
	// Backend names the runner in metrics and logs ("container").
	Backend string
	// Parallel is how many jobs run at once (default 1).
	Parallel int
	// Queue is how many admitted requests may wait for a run beyond the
	// Parallel running ones; one more gets 503 (default DefaultQueue).
	Queue int
	// Token, when set, is required as "Authorization: Bearer TOKEN" on
	// every route but /healthz.
	Token string
	// CopyInRoot confines the jobs' copy_in host paths (batch.Options).
	CopyInRoot string
	// TrustClients lets jobs name any host path in copy_in and binds,
	// read with the server's rights (root's). Without it and without
	// CopyInRoot, a job naming a host path is refused: every client is a
	// remote party, the token only says it may run programs.
	TrustClients bool
	// Ceiling bounds the limits a job may ask for (batch.Options.Ceiling):
	// a job over it is 400 naming the field. Its unset Output, Tmpfs
	// and Wall take DefaultCeiling's.
	Ceiling sandbox.Limits
	// MaxAnswer bounds what one job could capture in all, its streams,
	// files and transcripts (batch.Options.MaxCaptured; default
	// DefaultMaxAnswer): a job that could capture more is 400.
	MaxAnswer int64
	// MaxBody bounds a request body (default DefaultMaxBody): more is 413.
	MaxBody int64
	// RetryAfter is what a 503 asks the client to wait (default
	// DefaultRetryAfter, rounded up to whole seconds).
	RetryAfter time.Duration
	// DrainTimeout bounds the drain; 0 waits for every run in flight,
	// which ends at its wall limit at the latest.
	DrainTimeout time.Duration
	// BodyTimeout bounds the reading of a /run body from the end of its
	// headers (default DefaultBodyTimeout): a body still incomplete then
	// is 408, so a client that sends slowly cannot keep its admission.
	BodyTimeout time.Duration
	// WriteTimeout bounds the writing of a /run answer (default
	// DefaultWriteTimeout): a client that does not read it loses the
	// connection, and its admission is given back.
	WriteTimeout time.Duration
	// MaxConns bounds the connections served at once (default
	// DefaultMaxConns); more wait in the listen backlog until one goes.
	// Each costs a descriptor, a goroutine and buffers before any token is
	// checked.
	MaxConns int
	// IdleTimeout closes a keep-alive connection that has waited that
	// long for its next request (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// Logger gets one line per run (default slog.Default()).
	Logger *slog.Logger
}

// Server serves one Runner over HTTP. Create it with New.
type Server struct {
	o        Options
	pool     PoolReporter // nil when the runner reports none
	admitted chan struct{}
	running  chan struct{}
	waiting  atomic.Int64
	draining atomic.Bool

	// healthMu guards healthLogged: the pool error /healthz logged last,
	// "" while healthy. /healthz is open to anyone, so it logs a change of
	// health, not every request (which would let anyone grow the log).
	healthMu     sync.Mutex
	healthLogged string

	registry *prometheus.Registry
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec
}

// New checks o and returns a Server.
func New(o Options) (*Server, error) {
	if o.Runner == nil {
		return nil, errors.New("server: no runner")
	}
	if o.Parallel < 0 || o.Queue < 0 || o.MaxBody < 0 {
		return nil, fmt.Errorf("server: parallel %d, queue %d, max body %d: none may be negative", o.Parallel, o.Queue, o.MaxBody)
	}
	o.Parallel = max(o.Parallel, 1)
	if o.Queue == 0 {
		o.Queue = DefaultQueue
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Ceiling.Output == 0 {
		o.Ceiling.Output = DefaultCeiling.Output
	}
	if o.Ceiling.Tmpfs == 0 {
		o.Ceiling.Tmpfs = DefaultCeiling.Tmpfs
	}
	if o.Ceiling.Wall == 0 {
		o.Ceiling.Wall = DefaultCeiling.Wall
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = DefaultBodyTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxAnswer <= 0 {
		o.MaxAnswer = DefaultMaxAnswer
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{
		o:        o,
		admitted: make(chan struct{}, o.Parallel+o.Queue),
		running:  make(chan struct{}, o.Parallel),
		registry: prometheus.NewRegistry(),
	}
	s.pool, _ = o.Runner.(PoolReporter)
	s.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gosandbox_runs_total",
		Help: "Programs run, by result status (a group counts each of its programs).",
	}, []string{"status"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gosandbox_run_duration_seconds",
		Help:    "Time to run one job (single program or group), from its start to its result, without the queue wait.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"backend"})
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gosandbox_http_requests_total",
		Help: "HTTP requests answered, by route and status code.",
	}, []string{"route", "code"})
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gosandbox_queue_depth",
		Help: "Requests admitted and waiting for a run slot.",
	}, func() float64 { return float64(s.waiting.Load()) })
	replaced := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "gosandbox_pool_replaced_total",
		Help: "Boxes of the pool destroyed and rebuilt (died, stuck, failed reset); 0 without a pool.",
	}, func() float64 {
		if s.pool == nil {
			return 0
		}
		_, _, n, _ := s.pool.PoolStats()
		return float64(n)
	})
	s.registry.MustRegister(s.runs, s.duration, s.requests, queue, replaced, slotsCollector{s})
	return s, nil
}

// slotsCollector reports gosandbox_pool_slots{state}: the pool's idle and
// busy boxes, or without a pool the server's run slots.
type slotsCollector struct{ s *Server }

var slotsDesc = prometheus.NewDesc("gosandbox_pool_slots",
	"Boxes of the pool by state (idle: ready for a run; busy: running, resetting or being rebuilt); without a pool, the server's run slots.",
	[]string{"state"}, nil)

func (c slotsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- slotsDesc }

func (c slotsCollector) Collect(ch chan<- prometheus.Metric) {
	size, idle := c.s.o.Parallel, c.s.o.Parallel-len(c.s.running)
	if c.s.pool != nil {
		size, idle, _, _ = c.s.pool.PoolStats()
	}
	ch <- prometheus.MustNewConstMetric(slotsDesc, prometheus.GaugeValue, float64(idle), "idle")
	ch <- prometheus.MustNewConstMetric(slotsDesc, prometheus.GaugeValue, float64(size-idle), "busy")
}

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/run", s.authorized("/run", s.run))
	mux.HandleFunc("/healthz", s.healthz)
	metrics := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	mux.HandleFunc("/metrics", s.authorized("/metrics", func(w http.ResponseWriter, r *http.Request) int {
		metrics.ServeHTTP(w, r)
		return http.StatusOK
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A body the handler leaves unread (401, 405, 503, 404) is still
		// read by net/http, up to 256 KiB, before it answers: that read
		// ends at the body timeout too, or a client that trickles a body
		// holds the connection, no token needed. /run lifts the deadline
		// once it has the body.
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.o.BodyTimeout))
		mux.ServeHTTP(w, r)
	})
}

// Serve answers on ln until ctx ends, then drains: the listener closes, the
// runs in flight finish and are answered. It returns nil after a clean
// drain. The runner stays open: the caller closes it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Not ReadTimeout or WriteTimeout: they would also run during the
		// run (a read deadline then cancels the request's context); /run
		// sets its own deadlines around reading the body and writing
		// the answer.
		IdleTimeout: s.o.IdleTimeout,
		ErrorLog:    slog.NewLogLogger(s.o.Logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(netutil.LimitListener(ln, s.o.MaxConns)) }()
	select {
	case err := <-served:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.o.Logger.Info("draining", "in_flight", len(s.admitted))
	drainCtx := context.Background()
	if s.o.DrainTimeout > 0 {
		var cancel context.CancelFunc
		drainCtx, cancel = context.WithTimeout(drainCtx, s.o.DrainTimeout)
		defer cancel()
	}
	if err := srv.Shutdown(drainCtx); err != nil {
		srv.Close()
		return fmt.Errorf("server: drain: %w", err)
	}
	<-served
	return nil
}

type handler func(w http.ResponseWriter, r *http.Request) (code int)

// authorized wraps h with the bearer-token check and the request counter.
func (s *Server) authorized(route string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w, count: func(code int) {
			s.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		}}
		code := 0
		if s.o.Token != "" && !s.tokenOK(r) {
			cw.Header().Set("WWW-Authenticate", `Bearer realm="gosandbox"`)
			code = writeError(cw, http.StatusUnauthorized, nil, "missing or wrong bearer token")
		} else {
			code = h(cw, r)
		}
		if !cw.counted {
			cw.counted = true
			cw.count(code)
		}
	}
}

// countingWriter counts a request when its status line is written, before
// any of the answer can reach the client: a client that reads /metrics
// right after its answer finds its request counted.
type countingWriter struct {
	http.ResponseWriter
	count   func(code int)
	counted bool
}

func (w *countingWriter) WriteHeader(code int) {
	if !w.counted && code >= 200 {
		w.counted = true
		w.count(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if !w.counted {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's deadlines
// and flush.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tokenOK checks "Authorization: Bearer TOKEN"; the scheme's name is
// case-insensitive (RFC 9110 11.1), the token is compared in constant time.
func (s *Server) tokenOK(r *http.Request) bool {
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(got), []byte(s.o.Token)) == 1
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	code, msg := http.StatusOK, "ok"
	switch {
	case s.draining.Load():
		code, msg = http.StatusServiceUnavailable, "draining"
	case s.pool != nil:
		if _, idle, _, lastErr := s.pool.PoolStats(); idle == 0 && lastErr != nil && len(s.running) == 0 {
			// /healthz needs no token: the error (host paths, errno
			// text) goes to the log only.
			code, msg = http.StatusServiceUnavailable, "no box ready"
			s.logHealth(code, lastErr.Error())
		} else {
			s.logHealth(code, "")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
	s.requests.WithLabelValues("/healthz", strconv.Itoa(code)).Inc()
}

// logHealth logs what /healthz found about the pool when it differs from
// what it logged last: the pool's error (poolErr), or that it is ready
// again ("").
func (s *Server) logHealth(code int, poolErr string) {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	if poolErr == s.healthLogged {
		return
	}
	s.healthLogged = poolErr
	if poolErr == "" {
		s.o.Logger.Info("healthz", "http", code, "pool", "ready again")
		return
	}
	s.o.Logger.Warn("healthz", "http", code, "error", poolErr)
}

func (s *Server) run(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return writeError(w, http.StatusMethodNotAllowed, nil, "POST a job to /run")
	}
	if s.draining.Load() {
		return s.unavailable(w, "draining: no new runs")
	}
	select {
	case s.admitted <- struct{}{}:
		defer func() { <-s.admitted }()
	default:
		return s.unavailable(w, fmt.Sprintf("queue full (%d running, %d waiting)", s.o.Parallel, s.o.Queue))
	}
	// The admission is held while the body arrives: a client sending
	// slowly must not keep it, nor hold the drain. (The deadline is set
	// by Handler, from the request's start.)
	rc := http.NewResponseController(w)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBody))
	if err != nil {
		// The deadline stays: after the answer the server reads what is
		// left of the body, which must not wait for a slow client either.
		var tooBig *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooBig):
			return writeError(w, http.StatusRequestEntityTooLarge, nil, fmt.Sprintf("body over %d bytes", s.o.MaxBody))
		case errors.As(err, &netErr) && netErr.Timeout():
			w.Header().Set("Connection", "close")
			return writeError(w, http.StatusRequestTimeout, nil, fmt.Sprintf("body not received within %v", s.o.BodyTimeout))
		}
		return writeError(w, http.StatusBadRequest, nil, "read body: "+err.Error())
	}
	// No deadline during the run: the server's read that notices a
	// client gone would take it for one and cancel the run.
	rc.SetReadDeadline(time.Time{})

	queued := time.Now()
	s.waiting.Add(1)
	select {
	case s.running <- struct{}{}:
		s.waiting.Add(-1)
	case <-r.Context().Done():
		s.waiting.Add(-1)
		return writeError(w, http.StatusServiceUnavailable, nil, "client gone while queued")
	}
	start := time.Now()
	out := func() batch.Outcome {
		// Deferred: net/http recovers a handler's panic, and the slot
		// must come back then too.
		defer func() { <-s.running }()
		return batch.RunLine(r.Context(), s.o.Runner, batch.Options{CopyInRoot: s.o.CopyInRoot, Ceiling: s.o.Ceiling, MaxCaptured: s.o.MaxAnswer,
			RefuseHostPaths: s.o.CopyInRoot == "" && !s.o.TrustClients}, 0, body)
	}()
	took := time.Since(start)

	code := http.StatusOK
	switch {
	case out.Err != nil && errors.Is(out.Err, batch.ErrNotRun):
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", s.retryAfter())
	case out.Err != nil:
		code = http.StatusBadRequest
	default:
		s.duration.WithLabelValues(s.o.Backend).Observe(took.Seconds())
	}
	statuses := make([]string, len(out.Results))
	for i, res := range out.Results {
		s.runs.WithLabelValues(string(res.Status)).Inc()
		statuses[i] = string(res.Status)
	}
	// The id and the error quote what the client sent: clipped, so a log
	// line stays short whatever the request held.
	attrs := []any{"id", clip(idText(out.ID)), "http", code, "backend", s.o.Backend,
		"queue_ms", start.Sub(queued).Milliseconds(), "run_ms", took.Milliseconds()}
	if out.Err != nil {
		attrs = append(attrs, "error", clip(out.Err.Error()))
	} else {
		attrs = append(attrs, "status", strings.Join(statuses, ","))
		if len(out.Results) == 1 {
			attrs = append(attrs, "wall_ms", out.Results[0].Wall().Milliseconds(), "cpu_ms", out.Results[0].CPU().Milliseconds())
		}
	}
	s.o.Logger.Info("run", attrs...)

	// A client that does not read its answer must not keep the handler
	// and its admission: the answer (up to about 4/3 of the output limit)
	// goes out under a deadline, whole (Content-Length, so nothing is
	// left for after the handler), and the deadline is lifted for the
	// connection's next request.
	rc.SetWriteDeadline(time.Now().Add(s.o.WriteTimeout))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out.Line)))
	w.WriteHeader(code)
	if _, err := w.Write(out.Line); err == nil && rc.Flush() == nil {
		rc.SetWriteDeadline(time.Time{})
	}
	return code
}

func (s *Server) unavailable(w http.ResponseWriter, why string) int {
	w.Header().Set("Retry-After", s.retryAfter())
	return writeError(w, http.StatusServiceUnavailable, nil, why)
}

func (s *Server) retryAfter() string {
	return strconv.Itoa(int((s.o.RetryAfter + time.Second - 1) / time.Second))
}

// writeError answers code with {"id": id, "error": msg} (id only when
// known).
func writeError(w http.ResponseWriter, code int, id json.RawMessage, msg string) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(struct {
		ID    json.RawMessage `json:"id,omitempty"`
		Error string          `json:"error"`
	}{id, msg})
	w.Write(append(b, '\n'))
	return code
}

// clipLog is the most of one client-given text a log line carries.
const clipLog = 512

// clip shortens s to about clipLog bytes (on a rune boundary), saying how
// long it was.
func clip(s string) string {
	if len(s) <= clipLog {
		return s
	}
	cut := clipLog
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:cut], len(s))
}

func idText(id json.RawMessage) string {
	var s string
	if json.Unmarshal(id, &s) != nil {
		return ""
	}
	return s
}
