{{/*
Helpers of the in-tree admission policies (intree.yaml). The rules' CEL is
generated into _intree_rules.tpl from policy.Rules by `make generate`.
*/}}

{{/* (list root id default): a rule's action, deny, warn or off:
policy.rules.<id>, else the rule's default; false (YAML's unquoted off) is off. */}}
{{- define "kestra-guard.ruleAction" -}}
{{- $rules := (index . 0).Values.policy.rules | default dict -}}
{{- $id := index . 1 -}}
{{- if hasKey $rules $id -}}
{{- $v := index $rules $id -}}
{{- if kindIs "bool" $v -}}
{{- if $v }}{{ fail (printf "policy.rules.%s: true: expected deny, warn or off" $id) }}{{ end -}}
off
{{- else -}}
{{ $v }}
{{- end -}}
{{- else -}}
{{ index . 2 }}
{{- end -}}
{{- end -}}

{{/* (list root key): policy.<key> as JSON, or the configuration's default
when values leave it out. */}}
{{- define "kestra-guard.intree.list" -}}
{{- $root := index . 0 }}{{ $key := index . 1 -}}
{{- if hasKey $root.Values.policy $key -}}
{{ index $root.Values.policy $key | default list | toJson }}
{{- else -}}
{{ include (printf "kestra-guard.intree.default.%s" $key) $root }}
{{- end -}}
{{- end -}}

{{/* (list root field value): a duration as Go prints it (time.Duration's
String), which is how kestra-guard writes the start gate's arguments: whole
milliseconds below a second, or whole seconds, minutes or hours. */}}
{{- define "kestra-guard.goDuration" -}}
{{- $root := index . 0 }}{{ $field := index . 1 }}{{ $v := toString (index . 2) -}}
{{- if regexMatch "^[0-9]+ms$" $v -}}
{{- $n := trimSuffix "ms" $v | atoi -}}
{{- if eq $n 0 }}0s{{ else if lt $n 1000 }}{{ $n }}ms{{ else if eq (mod $n 1000) 0 }}{{ duration (div $n 1000) }}{{ else }}{{ include "kestra-guard.durationFail" (list $root $field $v) }}{{ end -}}
{{- else if regexMatch "^[0-9]+[smh]$" $v -}}
{{- $unit := dict "s" 1 "m" 60 "h" 3600 -}}
{{- $n := regexReplaceAll "[smh]$" $v "" | atoi -}}
{{- duration (mul $n (index $unit (regexFind "[smh]$" $v))) -}}
{{- else -}}
{{ include "kestra-guard.durationFail" (list $root $field $v) }}
{{- end -}}
{{- end -}}

{{- define "kestra-guard.durationFail" -}}
{{- if ne (index . 0).Values.admission.mode "webhook" -}}
{{- fail (printf "%s: %q: with admission.mode %s, expected whole milliseconds below 1s or whole seconds, minutes or hours (such as 500ms, 30s, 2m), so that the in-tree policies spell the start gate's arguments as kestra-guard does" (index . 1) (index . 2) (index . 0).Values.admission.mode) -}}
{{- else -}}
{{ index . 2 }}
{{- end -}}
{{- end -}}

{{/* The start gate's arguments as JSON, as policy.Options builds them. */}}
{{- define "kestra-guard.gateArgs" -}}
{{- $g := .Values.startGate -}}
{{- $eps := $g.endpoints | default (include "kestra-guard.intree.default.gateEndpoints" . | fromJsonArray) -}}
{{- $args := list "gate" (printf "--endpoints=%s" (join "," $eps)) (printf "--consecutive=%d" (int $g.consecutive)) -}}
{{- $args = append $args (printf "--attempt-timeout=%s" (include "kestra-guard.goDuration" (list . "startGate.attemptTimeout" $g.attemptTimeout))) -}}
{{- $args = append $args (printf "--interval=%s" (include "kestra-guard.goDuration" (list . "startGate.interval" $g.interval))) -}}
{{- $args = append $args (printf "--timeout=%s" (include "kestra-guard.goDuration" (list . "startGate.timeout" $g.timeout))) -}}
{{- with $g.canary }}{{ $args = append $args (printf "--canary=%s" .) }}{{ end -}}
{{ toJson $args }}
{{- end -}}

{{/* The metadata hostnames as one regular expression: each quoted, any
case (Go's case folding, which also reads the long s and the Kelvin sign as
s and k, as the webhook does once it has mapped them to ASCII); none when
the list is empty. */}}
{{- define "kestra-guard.intree.hostnamePattern" -}}
{{- $q := list -}}
{{- range (include "kestra-guard.intree.list" (list . "metadataHostnames") | fromJsonArray) }}{{ $q = append $q (regexQuoteMeta .) }}{{ end -}}
{{- if $q }}(?i){{ join "|" $q }}{{ else }}\b\B{{ end -}}
{{- end -}}

{{/* The variables every in-tree policy's CEL may read (policy.CELCheck). */}}
{{- define "kestra-guard.intree.variables" -}}
- name: hostPathAllowList
  expression: {{ .Values.policy.hostPathAllowList | default list | toJson | toJson }}
- name: metadataCIDRs
  expression: {{ include "kestra-guard.intree.list" (list . "metadataCIDRs") | toJson }}
- name: metadataHostnamePattern
  expression: {{ include "kestra-guard.intree.hostnamePattern" . | toJson | toJson }}
- name: apiAudiences
  expression: {{ include "kestra-guard.intree.list" (list . "apiAudiences") | toJson }}
- name: allowedRegistries
  expression: {{ .Values.policy.allowedRegistries | default list | toJson | toJson }}
- name: gateEnabled
  expression: {{ .Values.startGate.enabled | toString | toJson }}
- name: gateName
  expression: {{ include "kestra-guard.intree.gateName" . | toJson | toJson }}
- name: gateImage
  expression: {{ include "kestra-guard.image" . | toJson | toJson }}
- name: gatePullPolicy
  expression: {{ .Values.image.pullPolicy | toJson | toJson }}
- name: gateArgs
  expression: {{ include "kestra-guard.gateArgs" . | toJson }}
{{- end -}}
