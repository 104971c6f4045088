package exception

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
)

// readable reports whether kestra-guard's type reads s as spec.expires.
func readable(s string) bool {
	b, _ := json.Marshal(s)
	var tm metav1.Time
	return tm.UnmarshalJSON(b) == nil
}

// What the API server accepts for spec.expires (format date-time, as the
// apiextensions validator checks it, and the CRD's pattern) is what
// metav1.Time reads; CheckExpires, used by check and on what is read from
// the cluster, accepts exactly that.
func FuzzExpiresAgreesWithCRD(f *testing.F) {
	for _, s := range []string{
		"2030-01-01T00:00:00Z", "2030-01-01t00:00:00z", "2030-01-01T00:00:00+99:99", "2030-01-01T00:00:00x5Z",
		"2030-01-01T23:59:59.999999999-23:59", "2030-02-29T00:00:00Z", "2030-01-01T00:00:60Z", "2030-01-01T00:00:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		server := strfmt.IsDateTime(s) && expiresPattern.MatchString(s)
		if server && !readable(s) {
			t.Errorf("the CRD accepts %q, which metav1.Time cannot read", s)
		}
		if ok := CheckExpires(s) == nil; ok != (server && readable(s)) {
			t.Errorf("CheckExpires(%q) ok = %v; server accepts: %v, readable: %v", s, ok, server, readable(s))
		}
	})
}
