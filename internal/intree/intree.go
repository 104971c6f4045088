// Package intree writes what is derived from the rules' in-tree forms
// (policy.Rule.InTree): the chart's Helm definitions of the
// ValidatingAdmissionPolicies' validations (charts/kestra-guard/templates/
// _intree_rules.tpl, which templates/intree.yaml puts into policies and
// bindings) and the README's outage table. `make generate` runs it
// (hack/rulegen), and a test fails when a committed file differs, so that
// adding a rule stays its file, its tests and one line of policy.Rules.
package intree

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/cel-go/common"
	"github.com/google/cel-go/parser"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/ruledoc"
)

// RulesTemplate is the generated template's path in the repository.
var RulesTemplate = filepath.Join("charts", "kestra-guard", "templates", "_intree_rules.tpl")

// The README's outage table lies between these lines.
const (
	TableBegin = "<!-- intree:begin (make generate writes this table from policy.Rules) -->"
	TableEnd   = "<!-- intree:end -->"
)

// Validation is one entry of a ValidatingAdmissionPolicy's validations.
type Validation struct {
	Expression        string `json:"expression"`
	Message           string `json:"message,omitempty"`
	MessageExpression string `json:"messageExpression,omitempty"`
	Reason            string `json:"reason"`
}

// Validations expands a rule's checks into validations: one per check, and
// one per container list for EachContainer. Each message names the rule,
// the field path (with the index of what fails) and the fix.
func Validations(r policy.Rule) ([]Validation, error) {
	if r.InTree == nil {
		return nil, nil
	}
	var out []Validation
	for i, c := range r.InTree.Checks {
		if strings.TrimSpace(c.Expr) == "" || c.Message == "" {
			return nil, fmt.Errorf("rule %s: InTree.Checks[%d]: expected an expression and a message", r.ID, i)
		}
		expr := oneLine(c.Expr)
		if err := complete(expr); err != nil {
			return nil, fmt.Errorf("rule %s: InTree.Checks[%d]: %w", r.ID, i, err)
		}
		switch c.Each {
		case policy.EachPod:
			if l := eachContainerForm(expr); l != "" {
				return nil, fmt.Errorf("rule %s: InTree.Checks[%d]: a Pod-level check starts as the check of each of spec.%s (%q), which the policies' match condition would read as one and join with the others; write it as Each: EachContainer, or start it otherwise",
					r.ID, i, l, EachContainerPrefix(l))
			}
			out = append(out, Validation{Expression: expr, Reason: "Forbidden",
				Message: "kestra-guard: " + r.ID + ": " + c.Field + ": " + c.Message})
		case policy.EachContainer:
			for _, l := range policy.ContainerLists {
				out = append(out, each(r.ID, strings.TrimSuffix(EachContainerPrefix(l), ".all(c, "), "spec."+l, "c", expr, c, "' (container ' + c.name + ')'"))
			}
		default:
			list, err := listExpr(c.Each)
			if err != nil {
				return nil, fmt.Errorf("rule %s: InTree.Checks[%d]: %w", r.ID, i, err)
			}
			out = append(out, each(r.ID, list, c.Each, "v", expr, c, "''"))
		}
	}
	return out, nil
}

// complete reports an error unless expr parses as one CEL expression, alone
// and in parentheses: the policies write it inside calls and joined with
// others (each, and the match condition), where text such as "a) || (b" or
// a trailing "// comment" would change what the rest means.
func complete(expr string) error {
	p, err := parser.NewParser(parser.EnableOptionalSyntax(true))
	if err != nil {
		return err
	}
	for _, e := range []string{expr, "(" + expr + ")"} {
		if _, iss := p.Parse(common.NewTextSource(e)); iss != nil && len(iss.GetErrors()) > 0 {
			return fmt.Errorf("expected one complete CEL expression: %s", iss.ToDisplayString())
		}
	}
	return nil
}

// EachContainerPrefix is how the validation of an EachContainer check over
// list begins; it ends with the ")" that closes it. The policies' match
// condition (templates/intree.yaml) joins the checks of each list into one
// pass over it, which only these validations start with.
func EachContainerPrefix(list string) string {
	return "object.spec.?" + list + ".orValue([]).all(c, "
}

// eachContainerForm is the container list whose EachContainerPrefix expr
// starts with, or "".
func eachContainerForm(expr string) string {
	for _, l := range policy.ContainerLists {
		if strings.HasPrefix(expr, EachContainerPrefix(l)) {
			return l
		}
	}
	return ""
}

// each is the validation of a check over every item of list, bound to name.
func each(id, list, path, name, expr string, c policy.CELCheck, suffix string) Validation {
	return Validation{
		Expression: list + ".all(" + name + ", " + expr + ")",
		MessageExpression: strconv.Quote("kestra-guard: "+id+": ") + " + " + list + ".transformList(i, " + name + ", !(" + expr + "), " +
			strconv.Quote(path+"[") + " + string(i) + " + strconv.Quote("]"+c.Field) + " + " + suffix + ").join(', ') + " + strconv.Quote(": "+c.Message),
		Reason: "Forbidden",
	}
}

// listExpr is the CEL expression of a list field of the Pod, such as
// spec.securityContext.sysctls, empty when any part is unset.
func listExpr(path string) (string, error) {
	parts := strings.Split(path, ".")
	if len(parts) < 2 || parts[0] != "spec" {
		return "", fmt.Errorf("Each %q: expected %q, %q or a field path under spec such as spec.volumes", path, policy.EachPod, policy.EachContainer)
	}
	return "object.spec.?" + strings.Join(parts[1:], ".?") + ".orValue([])", nil
}

// oneLine joins an expression's lines, so that the policy shows it as
// written, and spaces nested braces, which Helm would read as a template
// action (the rules' CEL holds no brace inside a string literal).
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for strings.Contains(s, "}}") || strings.Contains(s, "{{") {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "}}", "} }"), "{{", "{ {")
	}
	return s
}

// Template is the generated Helm template: per class ("deny", "warn"), the
// validations of the rules whose action (policy.rules, else the default)
// is that class, for the policy without params and for the one whose param
// is the managed NetworkPolicy; and the defaults of the lists the policies'
// variables read when values leave them out.
func Template(rules []policy.Rule) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{{- /* Generated from policy.Rules by `make generate` (internal/intree); do not edit. */ -}}\n")
	for _, param := range []bool{false, true} {
		name := "kestra-guard.intree.validations"
		if param {
			name = "kestra-guard.intree.paramValidations"
		}
		fmt.Fprintf(&b, "\n{{- /* (list root class): the validations of the rules whose action is class. */ -}}\n{{- define %q -}}\n{{- $root := index . 0 }}{{- $class := index . 1 }}\n", name)
		for _, r := range rules {
			if r.InTree == nil || r.InTree.Param != param {
				continue
			}
			vs, err := Validations(r)
			if err != nil {
				return nil, err
			}
			y, err := yaml.Marshal(vs)
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", r.ID, err)
			}
			if bytes.Contains(y, []byte("{{")) || bytes.Contains(y, []byte("}}")) {
				return nil, fmt.Errorf("rule %s: its CEL contains {{ or }}, which Helm would read as a template action", r.ID)
			}
			fmt.Fprintf(&b, "{{- if eq (include \"kestra-guard.ruleAction\" (list $root %q %q)) $class }}\n%s{{- end }}\n", r.ID, r.Default, y)
		}
		b.WriteString("{{- end -}}\n")
	}
	if err := mutationDefines(&b); err != nil {
		return nil, err
	}
	defaults := []struct {
		name string
		list []string
	}{
		{"metadataCIDRs", policy.DefaultMetadataCIDRs},
		{"metadataHostnames", policy.DefaultMetadataHostnames},
		{"apiAudiences", policy.DefaultAPIAudiences},
		{"gateEndpoints", policy.DefaultGateEndpoints},
	}
	b.WriteString("\n{{- /* The configuration's defaults of lists values may leave out, as JSON. */ -}}\n")
	for _, d := range defaults {
		j, err := json.Marshal(d.list)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "{{- define \"kestra-guard.intree.default.%s\" -}}\n%s\n{{- end -}}\n", d.name, j)
	}
	fmt.Fprintf(&b, "{{- define \"kestra-guard.intree.gateName\" -}}\n%s\n{{- end -}}\n", policy.GateContainerName)
	prefixes := make([]string, len(policy.ContainerLists))
	for i, l := range policy.ContainerLists {
		prefixes[i] = EachContainerPrefix(l)
	}
	j, err := json.Marshal(prefixes)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, "{{- /* How the validations of each container list begin (EachContainerPrefix). */ -}}\n{{- define \"kestra-guard.intree.containerPrefixes\" -}}\n%s\n{{- end -}}\n", j)
	return b.Bytes(), nil
}

// mutationDefines writes the MutatingAdmissionPolicy's variables and
// mutations (policy.InTreeMutationVariables, policy.InTreeMutations).
func mutationDefines(b *bytes.Buffer) error {
	type variable struct {
		Name       string `json:"name"`
		Expression string `json:"expression"`
	}
	type expression struct {
		Expression string `json:"expression"`
	}
	type mutation struct {
		PatchType          string      `json:"patchType"`
		ApplyConfiguration *expression `json:"applyConfiguration,omitempty"`
		JSONPatch          *expression `json:"jsonPatch,omitempty"`
	}
	var vars []variable
	for _, v := range policy.InTreeMutationVariables {
		vars = append(vars, variable{v.Name, oneLine(v.Expr)})
	}
	var muts []mutation
	for _, m := range policy.InTreeMutations {
		e := &expression{oneLine(m.Expr)}
		switch m.PatchType {
		case "ApplyConfiguration":
			muts = append(muts, mutation{PatchType: m.PatchType, ApplyConfiguration: e})
		case "JSONPatch":
			muts = append(muts, mutation{PatchType: m.PatchType, JSONPatch: e})
		default:
			return fmt.Errorf("InTreeMutations: patch type %q: expected ApplyConfiguration or JSONPatch", m.PatchType)
		}
	}
	for _, d := range []struct {
		name string
		v    any
	}{{"kestra-guard.intree.mutationVariables", vars}, {"kestra-guard.intree.mutations", muts}} {
		y, err := yaml.Marshal(d.v)
		if err != nil {
			return err
		}
		if bytes.Contains(y, []byte("{{")) || bytes.Contains(y, []byte("}}")) {
			return fmt.Errorf("%s: the CEL contains {{ or }}, which Helm would read as a template action", d.name)
		}
		fmt.Fprintf(b, "\n{{- define %q -}}\n%s{{- end -}}\n", d.name, y)
	}
	return nil
}

// Table is the README's outage table: rule by rule, what holds while no
// kestra-guard replica answers, in each admission.mode.
func Table(rules []policy.Rule) string {
	var b strings.Builder
	b.WriteString("| rule | default | `webhook` (today) | `inTree` | `both` |\n|---|---|---|---|---|\n")
	for _, r := range rules {
		inTree := "holds: CEL decides as the webhook"
		switch {
		case r.InTree == nil:
			inTree = "**not enforced**: the webhook only"
		case r.InTree.WebhookOnly != "":
			inTree = "holds, but " + r.InTree.WebhookOnly
		}
		fmt.Fprintf(&b, "| `%s` | %s | every task-runner Pod refused (`failurePolicy: Fail`) | %s | %s |\n", r.ID, r.Default, inTree, inTree)
	}
	return b.String()
}

// UpdateREADME replaces the table between TableBegin and TableEnd in readme.
func UpdateREADME(readme []byte, rules []policy.Rule) ([]byte, error) {
	return ruledoc.ReplaceBetween(readme, "README.md", TableBegin, TableEnd, Table(rules))
}

// Files are the generated files, by path in the repository under top.
func Files(top string, rules []policy.Rule) (map[string][]byte, error) {
	tpl, err := Template(rules)
	if err != nil {
		return nil, err
	}
	readme, err := os.ReadFile(filepath.Join(top, "README.md"))
	if err != nil {
		return nil, err
	}
	if readme, err = UpdateREADME(readme, rules); err != nil {
		return nil, err
	}
	return map[string][]byte{RulesTemplate: tpl, "README.md": readme}, nil
}

// Write writes Files into the repository at top.
func Write(top string, rules []policy.Rule) error {
	files, err := Files(top, rules)
	if err != nil {
		return err
	}
	return ruledoc.WriteFiles(top, files)
}
