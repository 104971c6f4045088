package input

import (
	"encoding/json"
	"fmt"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/exception"
)

// decodeException reads a PolicyException and checks what the CRD's schema
// would (exception.Validate, the same checks kestra-guard applies to what it
// reads from the cluster). An exception the API server would refuse is an
// input error naming the field, not a silent waiver; the other documents,
// other exceptions included, are still read.
func decodeException(data []byte, strict func(any) error, e *v1alpha1.PolicyException) error {
	var head struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec map[string]any `json:"spec"`
	}
	// Before the typed decoder, whose time error names no field.
	if json.Unmarshal(data, &head) == nil && head.Spec != nil {
		if err := exception.CheckExpires(head.Spec["expires"]); err != nil {
			return &FieldError{Field: "spec.expires", Err: fmt.Errorf("PolicyException %s: %w", head.Metadata.Name, err)}
		}
	}
	if err := strict(e); err != nil {
		return err
	}
	if e.APIVersion != v1alpha1.GroupVersion.String() {
		return fmt.Errorf("PolicyException %s: apiVersion %q: expected %s", e.Name, e.APIVersion, v1alpha1.GroupVersion)
	}
	if err := exception.Validate(e); err != nil {
		return fmt.Errorf("PolicyException %s: %w", e.Name, err)
	}
	return nil
}

// FieldError is a document's error at one field: the error's line is the
// field's.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }
