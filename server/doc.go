// Package server is `gosandbox serve`: a long-lived HTTP/1.1 service that
// runs batch jobs (single programs and program groups) on one warm
// sandbox.Runner, usually a pool, with Prometheus metrics and structured
// logs. The contract (routes, status codes, metric names) is in the README
// ("gosandbox serve").
//
// POST /run takes one job (the batch job line, see sandbox/batch) and
// answers 200 with its result line; 400 with {"error": ...} for a job that
// cannot run as given; 413 for a body over Options.MaxBody; 503 with
// Retry-After when Options.Queue requests already wait for a run, or while
// draining. GET /healthz is 200 while the runner can run, 503 otherwise.
// GET /metrics is the Prometheus text format. With Options.Token every
// route but /healthz needs "Authorization: Bearer TOKEN" (401 otherwise).
//
// Every client is treated as a remote party: a job may not name host
// paths (copy_in, binds) unless Options.CopyInRoot confines them or
// Options.TrustClients says so; its limits are bounded by Options.Ceiling
// and what it could capture in all by Options.MaxAnswer; a body must
// arrive within Options.BodyTimeout (408) and an answer be taken within
// Options.WriteTimeout; idle connections close after Options.IdleTimeout
// and at most Options.MaxConns are served at once. So no client keeps a
// run slot, a queue place or the drain by being slow, nor makes the
// server hold more memory than those bounds.
//
// Serve drains when its context ends: the listener closes, the runs in
// flight finish and are answered, then it returns; the caller closes the
// runner (the pool), which leaves nothing on the host.
//
// The server picks no backend: the caller opens the Runner (gosandbox
// serve does it the way batch does) and may give one that reports its pool
// (PoolReporter) for the slot metrics and the health check.
package server
