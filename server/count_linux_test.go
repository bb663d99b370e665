package server

// The request counter moves before the answer can reach the client.

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestRequestCountedBeforeAnswer: the counter was moved after the handler
// had written its answer, so a client that read /metrics as soon as its
// answer came could miss its own request (TestManyRequestsMetricsMatch saw
// 199 of 200 once in CI). Every byte of the answer must now find it
// counted.
func TestRequestCountedBeforeAnswer(t *testing.T) {
	s := &Server{requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests"}, []string{"route", "code"})}
	counted := func() float64 {
		var m dto.Metric
		if err := s.requests.WithLabelValues("/run", "200").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	w := &watchingWriter{ResponseRecorder: httptest.NewRecorder(), seen: counted}
	s.authorized("/run", func(w http.ResponseWriter, r *http.Request) int {
		w.Write([]byte("answer"))
		return http.StatusOK
	})(w, httptest.NewRequest("POST", "/run", nil))
	if w.atWrite != 1 || counted() != 1 {
		t.Errorf("requests counted when the answer was written: %v, after: %v; want 1 and 1", w.atWrite, counted())
	}
}

// watchingWriter notes what seen returns when the answer is written.
type watchingWriter struct {
	*httptest.ResponseRecorder
	seen    func() float64
	atWrite float64
}

func (w *watchingWriter) Write(b []byte) (int, error) {
	w.atWrite = w.seen()
	return w.ResponseRecorder.Write(b)
}
