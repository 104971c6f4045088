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

{{- define "kestra-guard.webhookCommon" -}}
admissionReviewVersions: [v1]
failurePolicy: {{ .Values.webhook.failurePolicy }}
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
matchPolicy: Equivalent
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: [kube-system, {{ .Release.Namespace }}]
rules:
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [pods]
    scope: Namespaced
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [UPDATE]
    resources: [pods/ephemeralcontainers]
    scope: Namespaced
{{- end -}}
