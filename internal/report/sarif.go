package report

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// SARIF 2.1.0 (OASIS), the subset check writes: one run, a rule per rule ID
// found, a result per violation located at its file and document line.
// GitHub code scanning reads it (github/codeql-action/upload-sarif).

const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	toolURI      = "https://github.com/kestra-guard/kestra-guard"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	ShortDescription sarifMessage `json:"shortDescription"`
	HelpURI          string       `json:"helpUri,omitempty"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifResult struct {
	RuleID       string             `json:"ruleId"`
	RuleIndex    int                `json:"ruleIndex"`
	Level        string             `json:"level"`
	Message      sarifMessage       `json:"message"`
	Locations    []sarifLocation    `json:"locations"`
	Suppressions []sarifSuppression `json:"suppressions,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification"`
}

// SARIF writes r as a SARIF 2.1.0 log. describe gives a rule's short
// description ("" falls back to the reason of its first violation).
// Violations are "error" when they deny and "warning" otherwise; a waived
// violation is a result with an external suppression naming the exception;
// unreadable inputs are error notifications of an unsuccessful invocation.
func SARIF(r Report, version string, describe func(rule string) string) ([]byte, error) {
	run := sarifRun{
		Tool:        sarifTool{Driver: sarifDriver{Name: "kestra-guard", Version: version, InformationURI: toolURI, Rules: []sarifRule{}}},
		Invocations: []sarifInvocation{{ExecutionSuccessful: len(r.Errors) == 0}},
		Results:     []sarifResult{},
	}
	index := map[string]int{}
	ruleIndex := func(id, reason string) int {
		if i, ok := index[id]; ok {
			return i
		}
		text := describe(id)
		if text == "" {
			text = reason
		}
		index[id] = len(run.Tool.Driver.Rules)
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: id, ShortDescription: sarifMessage{Text: text},
			HelpURI: toolURI + "#rules"})
		return index[id]
	}
	for _, res := range r.Results {
		loc := sarifLocationOf(res.File, res.Line, res.Kind+" "+res.Namespace+"/"+res.Name)
		for i, v := range res.Violations {
			loc := sarifLocationOf(res.File, res.LineOf(i), res.Kind+" "+res.Namespace+"/"+res.Name)
			level := "warning"
			if v.Action == policy.Deny {
				level = "error"
			}
			run.Results = append(run.Results, sarifResult{RuleID: v.Rule, RuleIndex: ruleIndex(v.Rule, v.Reason), Level: level,
				Message: sarifMessage{Text: res.Kind + " " + res.Namespace + "/" + res.Name + ": " + v.Field + ": " + v.Reason + " (" + v.Detail + ")"}, Locations: loc})
		}
		for _, w := range res.Waived {
			run.Results = append(run.Results, sarifResult{RuleID: w.Rule, RuleIndex: ruleIndex(w.Rule, w.Reason), Level: "note",
				Message:      sarifMessage{Text: res.Kind + " " + res.Namespace + "/" + res.Name + ": " + w.Field + ": waived"},
				Locations:    loc,
				Suppressions: []sarifSuppression{{Kind: "external", Justification: w.Exception.Describe()}}})
		}
	}
	for _, err := range r.Errors {
		run.Invocations[0].ToolExecutionNotifications = append(run.Invocations[0].ToolExecutionNotifications,
			sarifNotification{Level: "error", Message: sarifMessage{Text: err.Error()}})
	}
	b, err := json.MarshalIndent(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}}, "", "  ")
	return append(b, '\n'), err
}

// sarifLocationOf locates an object; stdin has no artifact to point at.
func sarifLocationOf(file string, line int, name string) []sarifLocation {
	if file == "" || file == "<stdin>" {
		file = "stdin"
	}
	loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: uriOf(file)}},
		LogicalLocations: []sarifLogical{{FullyQualifiedName: name, Kind: "object"}}}
	if line > 0 {
		loc.PhysicalLocation.Region = &sarifRegion{StartLine: line}
	}
	return []sarifLocation{loc}
}

// uriOf turns a path into a relative URI reference (forward slashes,
// no leading "./"), as code scanning matches it against the repository.
func uriOf(path string) string {
	return (&url.URL{Path: strings.TrimPrefix(filepath.ToSlash(filepath.Clean(path)), "./")}).String()
}
