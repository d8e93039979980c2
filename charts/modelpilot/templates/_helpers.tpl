{{/* Names, labels and image references shared by every template. */}}

{{- define "modelpilot.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's prefix: "modelpilot" for a release named modelpilot, else RELEASE-modelpilot. */}}
{{- define "modelpilot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "modelpilot.operatorName" -}}
{{- printf "%s-operator" (include "modelpilot.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modelpilot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "modelpilot.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "modelpilot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelpilot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "modelpilot.labels" -}}
{{ include "modelpilot.selectorLabels" . }}
app.kubernetes.io/part-of: modelpilot
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations for every object, or nothing. */}}
{{- define "modelpilot.annotations" -}}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* image REF: "repository@digest" when a digest is set (a released chart's values), else
"repository:tag", the tag defaulting to the chart's appVersion. */}}
{{- define "modelpilot.image" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository (toString (default .appVersion .tag)) -}}
{{- end -}}
{{- end -}}

{{/* The namespaces the operator's RBAC is bound in: empty list = cluster-wide. */}}
{{- define "modelpilot.watchNamespaces" -}}
{{- join "," (uniq .Values.watchNamespaces) -}}
{{- end -}}
