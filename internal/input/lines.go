package input

import (
	"strconv"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"
)

// FieldLine returns the line in o's file of the field at path (a finding's
// field path in the object as written, FieldInObject for a workload's Pod;
// or in the flow), or of its nearest ancestor that is written, or the
// document's line when the path cannot be followed (a List
// item, a KestraFlow's source, a value set by mutation).
func (o Object) FieldLine(path string) int {
	if o.source == nil || path == "" {
		return o.Line
	}
	var doc yaml3.Node
	if err := yaml3.Unmarshal(o.source, &doc); err != nil || len(doc.Content) == 0 {
		return o.Line
	}
	n, line := doc.Content[0], o.Line
	for _, tok := range splitPath(path) {
		var at int
		n, at = child(n, tok)
		if n == nil {
			break
		}
		line = o.Line + at - 1
	}
	return line
}

// child follows one step: a key of a mapping, an index of a sequence, or
// the item of a sequence whose name is tok. It returns the node and its
// line: a key's own line, where a block value would start on the next.
func child(n *yaml3.Node, tok string) (*yaml3.Node, int) {
	switch n.Kind {
	case yaml3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == tok {
				return n.Content[i+1], n.Content[i].Line
			}
		}
	case yaml3.SequenceNode:
		if i, err := strconv.Atoi(tok); err == nil {
			if i >= 0 && i < len(n.Content) {
				return n.Content[i], n.Content[i].Line
			}
			return nil, 0
		}
		for _, item := range n.Content {
			if name, _ := child(item, "name"); name != nil && name.Value == tok {
				return item, item.Line
			}
		}
	}
	return nil, 0
}

// splitPath splits "spec.containers[0].env[HOME]" into its steps; a
// bracket may hold dots ("metadata.labels[kestra.io/flow-id]").
func splitPath(p string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '.':
			flush()
		case '[':
			flush()
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				cur.WriteString(p[i+1:])
				flush()
				return out
			}
			out = append(out, p[i+1:i+end])
			i += end
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}
