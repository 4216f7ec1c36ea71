{{- define "kitaru.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kitaru.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kitaru.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kitaru.serviceAccountName" -}}
{{- default (include "kitaru.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* What the operator does in a watched namespace: the one list of its rights. */}}
{{- define "kitaru.namespacedRules" -}}
- apiGroups: ["kitaru.ai"]
  resources: ["executions", "flowversions", "flows", "schedules"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["kitaru.ai"]
  resources: ["executions"]
  verbs: ["create", "delete"]  # a Schedule's slots; Replace and the history limits
- apiGroups: ["kitaru.ai"]
  resources: ["executions/status", "flowversions/status", "flows/status", "schedules/status"]
  verbs: ["patch"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}
