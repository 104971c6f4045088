{{- define "kestra-guard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "kestra-guard.labels" -}}
app.kubernetes.io/name: kestra-guard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "kestra-guard.selectorLabels" -}}
app.kubernetes.io/name: kestra-guard
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kestra-guard.certSecret" -}}
{{- if and (eq .Values.certificates.mode "secret") .Values.certificates.secretName -}}{{ .Values.certificates.secretName }}{{- else -}}{{ include "kestra-guard.fullname" . }}-cert{{- end -}}
{{- end -}}

{{/* The caBundle already injected, kept across upgrades in self mode. */}}
{{- define "kestra-guard.caBundle" -}}
{{- $cfg := lookup "admissionregistration.k8s.io/v1" .kind "" .name -}}
{{- if and $cfg $cfg.webhooks -}}{{ (index $cfg.webhooks 0).clientConfig.caBundle | default "" }}{{- end -}}
{{- end -}}

{{/*
The task-runner Pods' webhooks, split so that kestra-guard is only called for
task runners: every Pod of a runner namespace (by label, or by name from
runnerNamespaces), and elsewhere only Pods the objectSelector picks. When
kestra-guard is down, Pods that are not task runners are never refused.
Arguments: root (.), prefix (mutate/validate), path, sideEffects, extra (YAML),
status (true: also UPDATEs of pods/status, whose writes keep label and
annotation changes; only those that change labels or annotations are sent,
so the kubelet's status writes never wait on kestra-guard).
*/}}
{{- define "kestra-guard.podWebhooks" -}}
{{- $root := .root -}}
{{- $name := include "kestra-guard.fullname" $root -}}
{{- $excluded := list "kube-system" $root.Release.Namespace -}}
{{- $entries := list -}}
{{- $entries = append $entries (dict "name" "runner-namespaces" "ns" (list (dict "key" "kestra-guard.io/runner" "operator" "In" "values" (list "true")))) -}}
{{- with $root.Values.runnerNamespaces }}
{{- $entries = append $entries (dict "name" "listed-namespaces" "ns" (list (dict "key" "kubernetes.io/metadata.name" "operator" "In" "values" .) (dict "key" "kestra-guard.io/runner" "operator" "NotIn" "values" (list "true")))) -}}
{{- end }}
{{- $entries = append $entries (dict "name" "task-runners" "object" true "ns" (list (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" (concat $root.Values.runnerNamespaces $excluded)) (dict "key" "kestra-guard.io/runner" "operator" "NotIn" "values" (list "true")))) -}}
{{- range $entries }}
- name: {{ $.prefix }}.{{ .name }}.pods.kestra-guard.io
  clientConfig:
    service: {name: {{ $name }}, namespace: {{ $root.Release.Namespace }}, path: {{ $.path }}, port: 443}
    {{- with $.caBundle }}
    caBundle: {{ . }}
    {{- end }}
  sideEffects: {{ $.sideEffects }}
  {{- with $.extra }}
  {{- . | nindent 2 }}
  {{- end }}
  admissionReviewVersions: [v1]
  {{- /* admission.mode both: the in-tree policies judge task runners while kestra-guard is down. */}}
  failurePolicy: {{ ternary "Ignore" $root.Values.webhook.failurePolicy (eq $root.Values.admission.mode "both") }}
  timeoutSeconds: {{ $root.Values.webhook.timeoutSeconds }}
  matchPolicy: Equivalent
  namespaceSelector:
    matchExpressions:
      {{- if not .object }}
      - {key: kubernetes.io/metadata.name, operator: NotIn, values: {{ $excluded | toJson }}}
      {{- end }}
      {{- range .ns }}
      - {key: {{ .key }}, operator: {{ .operator }}, values: {{ .values | toJson }}}
      {{- end }}
  {{- if .object }}
  objectSelector: {{- include "kestra-guard.objectSelector" $root | nindent 4 }}
  {{- end }}
  rules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods], scope: Namespaced}
    - {apiGroups: [""], apiVersions: [v1], operations: [UPDATE], resources: [pods/ephemeralcontainers], scope: Namespaced}
    {{- if $.status }}
    - {apiGroups: [""], apiVersions: [v1], operations: [UPDATE], resources: [pods/status], scope: Namespaced}
  matchConditions:
    - name: status-writes-that-change-labels-or-annotations
      expression: "request.?subResource.orValue('') != 'status' || object.metadata.?labels.orValue({}) != oldObject.metadata.?labels.orValue({}) || object.metadata.?annotations.orValue({}) != oldObject.metadata.?annotations.orValue({})"
    {{- end }}
{{- end }}
{{- end -}}

{{/* The objectSelector equal to taskRunnerSelector: a bare label key means
"the key exists"; any other selector must be given as webhook.objectSelector. */}}
{{- define "kestra-guard.objectSelector" -}}
{{- if .Values.webhook.objectSelector -}}
{{ toYaml .Values.webhook.objectSelector }}
{{- else if regexMatch "^[A-Za-z0-9][-A-Za-z0-9_./]*$" .Values.taskRunnerSelector -}}
matchExpressions:
  - {key: {{ .Values.taskRunnerSelector }}, operator: Exists}
{{- else -}}
{{- fail "taskRunnerSelector is not a bare label key: set webhook.objectSelector to the same selector as a LabelSelector" -}}
{{- end -}}
{{- end -}}

{{/* kestra-guard's image: repository@digest when a digest is given, else repository:tag. */}}
{{- define "kestra-guard.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}
