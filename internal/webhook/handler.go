package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
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

// Outcomes of a decision, the outcome label of the decisions metric.
const (
	outcomeSkipped  = "skipped"
	outcomeAdmitted = "admitted"
	outcomeDenied   = "denied"
	outcomeAudited  = "audited"
	outcomeMutated  = "mutated"
	outcomeError    = "error"
)

// decision is what a handler returns: the response and its outcome, or an
// error (the response and outcome are then ignored). Handlers never touch
// the decisions metric: endpoint.serve records it.
type decision struct {
	resp    admission.Response
	outcome string
	err     error
}

func decided(resp admission.Response, outcome string) decision {
	return decision{resp: resp, outcome: outcome}
}

func failed(err error) decision { return decision{err: err} }

// endpoint is the one middleware every admission endpoint goes through (the
// Pod webhooks through PodHandler, the NetworkPolicy webhook through
// NetworkPolicyValidator.Handle).
type endpoint struct {
	name  string
	guard *Guard
}

// serve runs decide and does, once for every request and in one deferred
// block, what follows it whatever happened: a panic is recovered as an
// error (logged with its stack); an error is logged with the request's UID
// and answered 400 when the request is at fault, 500 when kestra-guard is
// (statusFor), never admitted; and the decision is recorded in the metrics.
// req is what is known of the request; decide may fill it as it decodes.
func (e endpoint) serve(req *admissionv1.AdmissionRequest, decide func() decision) (resp admission.Response) {
	start := time.Now()
	var d decision
	defer func() {
		var stack []byte
		if p := recover(); p != nil {
			d, stack = failed(fmt.Errorf("panic: %v [recovered]", p)), debug.Stack()
		}
		outcome := d.outcome
		resp = d.resp
		if d.err != nil {
			code := statusFor(d.err)
			kv := []any{"webhook", e.name, "uid", req.UID, "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name, "code", code}
			if stack != nil {
				kv = append(kv, "stack", string(stack))
			}
			e.guard.Log.Error(d.err, "admission request failed", kv...)
			outcome, resp = outcomeError, admission.Errored(code, d.err)
		}
		e.guard.Metrics.decision(e.name, outcome, start)
	}()
	d = decide()
	return resp
}
