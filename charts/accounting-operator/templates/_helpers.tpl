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

{{- /* Bindings of ClusterRole .role to the operator: a RoleBinding in each watched
namespace, or one ClusterRoleBinding. Call with (dict "root" $ "role" NAME). */ -}}
{{- define "accounting-operator.bindings" -}}
{{- $root := .root -}}
{{- $role := .role -}}
{{- range ($root.Values.watchNamespaces | default (list "")) }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ if . }}RoleBinding{{ else }}ClusterRoleBinding{{ end }}
metadata:
  name: {{ $role }}
  {{- if . }}
  namespace: {{ . }}
  {{- end }}
  labels:
    {{- include "accounting-operator.labels" $root | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $role }}
subjects:
  - kind: ServiceAccount
    name: {{ include "accounting-operator.name" $root }}
    namespace: {{ $root.Release.Namespace }}
{{- end }}
{{- end -}}
