// Package kestra holds Kestra's semantics, as `check` needs them to judge a
// flow before Kestra runs it: how Kestra decodes the values a flow hands to
// Kubernetes (Jackson's type coercion, templates rendered at run time), the
// properties of its plugins that become part of a Pod (overlays) and how
// pluginDefaults apply to them, and what its kubectl tasks (Apply, Patch,
// Delete) change. Flow is the entry point; input reads the files.
package kestra

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	kjson "sigs.k8s.io/json"

	"github.com/kestra-guard/kestra-guard/internal/input"
)

// Problem is a value a Kestra flow hands to Kubernetes that cannot be
// checked statically: a template Kestra renders at run time where a typed
// value or a key is needed, a key that differs from a field only in case,
// or a value of the wrong shape.
type Problem struct {
	// Path is the field path, e.g. tasks[0].taskRunner.podSpec.hostNetwork.
	Path string
	// Field is the name of the field the value is for ("hostNetwork"), or
	// "" when the key itself is the problem or no field is known.
	Field string
	// Reason says what was found and what was expected.
	Reason string
}

func (p Problem) String() string { return p.Path + ": " + p.Reason }

// IsTemplated reports whether s holds a Pebble expression or tag, which
// Kestra renders at run time.
func IsTemplated(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%")
}

// Decode decodes v, a value read from YAML or JSON (maps, slices,
// strings, int64/float64/json.Number, bools), into out, a pointer to a
// Kubernetes API type, the way Kestra does before it builds a Pod: keys are
// matched case-sensitively (Jackson's default, and the API server's) and
// scalars are converted where Jackson converts them ("true" and 1 to a
// boolean, "1000" and 1000.7 to an integer, numbers and booleans to a
// string). Whatever cannot be decoded that way is left out of out and
// reported as a Problem with its path; path names v itself.
func Decode(v any, out any, path string) []Problem {
	var c coercer
	clean := c.value(v, reflect.TypeOf(out).Elem(), path, "")
	b, err := json.Marshal(clean)
	if err == nil {
		err = kjson.UnmarshalCaseSensitivePreserveInts(b, out)
	}
	if err != nil {
		c.problem(path, "", "cannot be decoded: %v", err)
	}
	slices.SortStableFunc(c.problems, func(a, b Problem) int { return strings.Compare(a.Path, b.Path) })
	return c.problems
}

type coercer struct {
	problems []Problem
}

func (c *coercer) problem(path, field, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: path, Field: field, Reason: fmt.Sprintf(format, args...)})
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// value returns v converted to what t accepts in JSON, or nil (with a
// problem) when it cannot be.
func (c *coercer) value(v any, t reflect.Type, path, field string) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return nil
	}
	if s, ok := v.(string); ok && IsTemplated(s) && t.Kind() != reflect.String && t.Kind() != reflect.Interface {
		c.problem(path, field, "%q is a template Kestra renders at run time, where %s is needed", s, describe(t))
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// Quantity, IntOrString, Time...: their own decoder decides.
		b, err := json.Marshal(v)
		if err == nil {
			err = kjson.UnmarshalCaseSensitivePreserveInts(b, reflect.New(t).Interface())
		}
		if err != nil {
			c.problem(path, field, "expected %s, found %s", describe(t), input.Shown(v))
			return nil
		}
		return v
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			c.problem(path, field, "expected an object (%s), found %s", t.Name(), input.Shown(v))
			return nil
		}
		fields := jsonFields(t)
		out := make(map[string]any, len(m))
		for k, x := range m {
			p := join(path, k)
			if IsTemplated(k) {
				c.problem(p, "", "the key %q is a template Kestra renders at run time", k)
				continue
			}
			ft, ok := fields[k]
			if !ok {
				if real := foldMatch(fields, k); real != "" {
					c.problem(p, real, "the key %q differs from the field %q only in case; Kestra and the API server match keys case-sensitively", k, real)
				}
				continue // unknown fields are dropped, as the API server does
			}
			out[k] = c.value(x, ft, p, k)
		}
		return out
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			c.problem(path, field, "expected a map, found %s", input.Shown(v))
			return nil
		}
		out := make(map[string]any, len(m))
		for k, x := range m {
			p := join(path, k)
			if IsTemplated(k) {
				c.problem(p, "", "the key %q is a template Kestra renders at run time", k)
				continue
			}
			out[k] = c.value(x, t.Elem(), p, field)
		}
		return out
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return c.scalar(v, reflect.TypeFor[string](), path, field)
		}
		l, ok := v.([]any)
		if !ok {
			c.problem(path, field, "expected a list, found %s", input.Shown(v))
			return nil
		}
		out := make([]any, len(l))
		for i, x := range l {
			out[i] = c.value(x, t.Elem(), path+"["+strconv.Itoa(i)+"]", field)
		}
		return out
	case reflect.Interface:
		return v
	}
	return c.scalar(v, t, path, field)
}

// scalar converts v to a boolean, number or string as Jackson does.
func (c *coercer) scalar(v any, t reflect.Type, path, field string) any {
	switch t.Kind() {
	case reflect.Bool:
		switch x := v.(type) {
		case bool:
			return x
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return true
			case "false":
				return false
			}
		default:
			if f, ok := number(v); ok && f == math.Trunc(f) {
				return f != 0
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if i, ok := toInt(v); ok && !reflect.New(t).Elem().OverflowInt(i) {
			return i
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if i, ok := toInt(v); ok && i >= 0 && !reflect.New(t).Elem().OverflowUint(uint64(i)) {
			return i
		}
	case reflect.Float32, reflect.Float64:
		if f, ok := number(v); ok {
			return f
		}
		if s, ok := v.(string); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		}
	case reflect.String:
		switch x := v.(type) {
		case string:
			return x
		case bool:
			return strconv.FormatBool(x)
		case json.Number:
			return x.String()
		case int64:
			return strconv.FormatInt(x, 10)
		case int:
			return strconv.Itoa(x)
		case float64:
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				return strconv.FormatFloat(x, 'f', -1, 64)
			}
		}
	}
	c.problem(path, field, "expected %s, found %s", describe(t), input.Shown(v))
	return nil
}

// toInt reads an integer the way Jackson does: an integer, a float
// (truncated: ACCEPT_FLOAT_AS_INT) or a string holding either.
func toInt(v any) (int64, bool) {
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, true
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, false
		}
		v = f
	}
	if i, ok := v.(int64); ok {
		return i, true
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i, true
		}
	}
	f, ok := number(v)
	if !ok || f >= math.MaxInt64 || f <= math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}

// number returns v as a float when it is a finite number.
func number(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case int:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer (" + t.Kind().String() + ")"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Struct:
		return "an object (" + t.Name() + ")"
	case reflect.Map:
		return "a map"
	case reflect.Slice:
		return "a list"
	}
	return t.String()
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func foldMatch(fields map[string]reflect.Type, k string) string {
	for name := range fields {
		if strings.EqualFold(name, k) {
			return name
		}
	}
	return ""
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields maps the JSON names of a struct's fields (inline ones
// included) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		ft := f.Type
		if f.Anonymous && name == "" || strings.Contains(","+opts+",", ",inline,") {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = ft
	}
	fieldCache.Store(t, out)
	return out
}
