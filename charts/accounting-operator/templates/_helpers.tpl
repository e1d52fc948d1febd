{{- define "accounting-operator.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "accounting-operator.selector" -}}
app.kubernetes.io/name: accounting-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "accounting-operator.labels" -}}
{{ include "accounting-operator.selector" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: universal-accounting
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
