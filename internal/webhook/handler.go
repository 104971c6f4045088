package webhook

import (
	"context"
	"errors"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// badRequestError marks a failure caused by the request itself (wrong kind,
// no object, undecodable): answered 400. Any other error is kestra-guard's
// (an API read failed): answered 500.
type badRequestError struct{ error }

func (e badRequestError) Unwrap() error { return e.error }

func badRequest(err error) error { return badRequestError{err} }

// statusFor is the HTTP status answering err: 400 for a bad request, else 500.
func statusFor(err error) int32 {
	if errors.As(err, new(badRequestError)) {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// decideFunc decides one request: a response and its outcome for the
// decisions metric, or an error.
type decideFunc func(ctx context.Context, req admission.Request) (resp admission.Response, outcome string, err error)

// endpoint is an admission.Handler that does, once for every webhook, what
// follows a decision: the decision metric, and for an error, one log line and
// the status code (400 for a bad request, 500 for our own failure).
type endpoint struct {
	name   string
	guard  *Guard
	decide decideFunc
}

func (e endpoint) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	resp, outcome, err := e.decide(ctx, req)
	if err == nil {
		e.guard.Metrics.decision(e.name, outcome, start)
		return resp
	}
	code := statusFor(err)
	e.guard.Log.Error(err, "admission request failed", "webhook", e.name, "uid", req.UID, "kind", req.Kind.Kind,
		"namespace", req.Namespace, "name", req.Name, "code", code)
	e.guard.Metrics.decision(e.name, "error", start)
	return admission.Errored(code, err)
}
