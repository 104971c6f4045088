package policy

import (
	"encoding/json"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/kestra-guard/kestra-guard/internal/jsonw"
)

// EncodePatch is the JSON patch the mutating webhook sends for ops: every
// patch a mutation makes goes through it (mutate_encode_test.go drives every
// mutation through it and applies the result).
func EncodePatch(ops []PatchOp) ([]byte, error) {
	return AppendPatch(make([]byte, 0, 128*len(ops)), ops)
}

// AppendPatch appends ops as a JSON array, byte for byte what json.Marshal
// writes (patch_test.go holds it to that), without reflection. It writes the
// values mutation builds; a value with a field mutation never sets is an
// error, never silently dropped.
func AppendPatch(b []byte, ops []PatchOp) ([]byte, error) {
	if ops == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i := range ops {
		op := &ops[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":`...)
		b = jsonw.AppendString(b, op.Op)
		b = append(b, `,"path":`...)
		b = jsonw.AppendString(b, op.Path)
		b = append(b, `,"value":`...)
		var err error
		if b, err = appendValue(b, op.Value); err != nil {
			return nil, fmt.Errorf("patch operation %d (%s %s): %w", i, op.Op, op.Path, err)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case string:
		return jsonw.AppendString(b, v), nil
	case json.RawMessage: // the start gate, marshalled once by encoding/json
		return append(b, v...), nil
	case *corev1.PodSecurityContext:
		return appendPodSecurityContext(b, v)
	case *corev1.SecurityContext:
		return appendSecurityContext(b, v)
	case *corev1.SeccompProfile:
		return appendSeccomp(b, v)
	case *corev1.Capabilities:
		return appendCapabilities(b, v), nil
	case []corev1.Capability:
		return appendCapabilityList(b, v), nil
	case corev1.VolumeMount:
		return appendVolumeMount(b, &v)
	case []corev1.VolumeMount:
		return appendList(b, v, appendVolumeMount)
	case corev1.EnvVar:
		return appendEnvVar(b, &v)
	case []corev1.EnvVar:
		return appendList(b, v, appendEnvVar)
	case corev1.Volume:
		return appendVolume(b, &v)
	case []corev1.Volume:
		return appendList(b, v, appendVolume)
	}
	return nil, fmt.Errorf("no JSON writer for a value of type %T", v)
}

func appendList[T any](b []byte, vs []T, one func([]byte, *T) ([]byte, error)) ([]byte, error) {
	if vs == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = one(b, &vs[i]); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// fields writes an object's members in order, with their commas.
type fields struct {
	b     []byte
	first bool
}

func object(b []byte) fields { return fields{b: append(b, '{'), first: true} }

func (f *fields) name(n string) {
	if !f.first {
		f.b = append(f.b, ',')
	}
	f.first = false
	f.b = append(f.b, '"')
	f.b = append(f.b, n...)
	f.b = append(f.b, '"', ':')
}

func (f *fields) int64(n string, v *int64) {
	if v != nil {
		f.name(n)
		f.b = strconv.AppendInt(f.b, *v, 10)
	}
}

func (f *fields) bool(n string, v *bool) {
	if v != nil {
		f.name(n)
		f.b = strconv.AppendBool(f.b, *v)
	}
}

func (f *fields) string(n, v string, omitEmpty bool) {
	if v != "" || !omitEmpty {
		f.name(n)
		f.b = jsonw.AppendString(f.b, v)
	}
}

func (f *fields) end() []byte { return append(f.b, '}') }

var errUnexpected = fmt.Errorf("a field mutation does not set is set")

func appendPodSecurityContext(b []byte, v *corev1.PodSecurityContext) ([]byte, error) {
	if v.SELinuxOptions != nil || v.WindowsOptions != nil || v.SupplementalGroups != nil || v.SupplementalGroupsPolicy != nil ||
		v.Sysctls != nil || v.FSGroupChangePolicy != nil || v.AppArmorProfile != nil || v.SELinuxChangePolicy != nil {
		return nil, fmt.Errorf("pod securityContext: %w", errUnexpected)
	}
	f := object(b)
	f.int64("runAsUser", v.RunAsUser)
	f.int64("runAsGroup", v.RunAsGroup)
	f.bool("runAsNonRoot", v.RunAsNonRoot)
	f.int64("fsGroup", v.FSGroup)
	if v.SeccompProfile != nil {
		f.name("seccompProfile")
		var err error
		if f.b, err = appendSeccomp(f.b, v.SeccompProfile); err != nil {
			return nil, err
		}
	}
	return f.end(), nil
}

func appendSecurityContext(b []byte, v *corev1.SecurityContext) ([]byte, error) {
	if v.Privileged != nil || v.SELinuxOptions != nil || v.WindowsOptions != nil || v.RunAsUser != nil || v.RunAsGroup != nil ||
		v.RunAsNonRoot != nil || v.ProcMount != nil || v.SeccompProfile != nil || v.AppArmorProfile != nil {
		return nil, fmt.Errorf("container securityContext: %w", errUnexpected)
	}
	f := object(b)
	if v.Capabilities != nil {
		f.name("capabilities")
		f.b = appendCapabilities(f.b, v.Capabilities)
	}
	f.bool("readOnlyRootFilesystem", v.ReadOnlyRootFilesystem)
	f.bool("allowPrivilegeEscalation", v.AllowPrivilegeEscalation)
	return f.end(), nil
}

func appendSeccomp(b []byte, v *corev1.SeccompProfile) ([]byte, error) {
	if v.LocalhostProfile != nil {
		return nil, fmt.Errorf("seccompProfile: %w", errUnexpected)
	}
	f := object(b)
	f.string("type", string(v.Type), false)
	return f.end(), nil
}

func appendCapabilities(b []byte, v *corev1.Capabilities) []byte {
	f := object(b)
	if len(v.Add) > 0 {
		f.name("add")
		f.b = appendCapabilityList(f.b, v.Add)
	}
	if len(v.Drop) > 0 {
		f.name("drop")
		f.b = appendCapabilityList(f.b, v.Drop)
	}
	return f.end()
}

func appendCapabilityList(b []byte, cs []corev1.Capability) []byte {
	if cs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, c := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, string(c))
	}
	return append(b, ']')
}

func appendVolumeMount(b []byte, v *corev1.VolumeMount) ([]byte, error) {
	if v.ReadOnly || v.RecursiveReadOnly != nil || v.SubPath != "" || v.MountPropagation != nil || v.SubPathExpr != "" || v.BindMountOptions != nil {
		return nil, fmt.Errorf("volumeMount %s: %w", v.Name, errUnexpected)
	}
	f := object(b)
	f.string("name", v.Name, false)
	f.string("mountPath", v.MountPath, false)
	return f.end(), nil
}

func appendEnvVar(b []byte, v *corev1.EnvVar) ([]byte, error) {
	if v.ValueFrom != nil {
		return nil, fmt.Errorf("env %s: %w", v.Name, errUnexpected)
	}
	f := object(b)
	f.string("name", v.Name, false)
	f.string("value", v.Value, true)
	return f.end(), nil
}

func appendVolume(b []byte, v *corev1.Volume) ([]byte, error) {
	ed := v.EmptyDir
	if ed == nil || v.VolumeSource != (corev1.VolumeSource{EmptyDir: ed}) {
		return nil, fmt.Errorf("volume %s: only an emptyDir is written: %w", v.Name, errUnexpected)
	}
	f := object(b)
	f.string("name", v.Name, false)
	f.name("emptyDir")
	e := object(f.b)
	e.string("medium", string(ed.Medium), true)
	if ed.SizeLimit != nil {
		q, err := ed.SizeLimit.MarshalJSON()
		if err != nil {
			return nil, err
		}
		e.name("sizeLimit")
		e.b = append(e.b, q...)
	}
	if ed.Mode != nil {
		e.name("mode")
		e.b = strconv.AppendInt(e.b, int64(*ed.Mode), 10)
	}
	f.b = e.end()
	return f.end(), nil
}
