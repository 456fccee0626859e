{{/* The chart's name, or nameOverride. */}}
{{- define "koala.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object's name: fullnameOverride, else the release's name,
with the chart's name appended unless the release's name already contains it. Kept
short enough for the longest suffix ("-operator-metrics") to fit in 63 characters. */}}
{{- define "koala.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 46 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "koala.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 46 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 46 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "koala.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "koala.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: koala
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "operator"). They never
change between chart versions, since a Deployment's selector cannot. */}}
{{- define "koala.selectorLabels" -}}
app.kubernetes.io/name: {{ include "koala.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of one component's objects: (dict "root" $ "component" "operator"). */}}
{{- define "koala.componentLabels" -}}
{{ include "koala.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* A component's image reference: (dict "root" $ "image" .Values.operator.image). */}}
{{- define "koala.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- $repo := .image.repository -}}
{{- if $registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" $registry) $repo }}{{ end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repo .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Pod Security Standard "restricted" settings every pod and container has. */}}
{{- define "koala.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "koala.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Scheduling of one component: (dict "root" $ "component" "ec2" "values" .Values.ec2).
Without topologySpreadConstraints, replicas spread over nodes and zones when they can. */}}
{{- define "koala.scheduling" -}}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
{{- if .values.topologySpreadConstraints }}
  {{- toYaml .values.topologySpreadConstraints | nindent 2 }}
{{- else }}
{{- range $key := list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: 1
    topologyKey: {{ $key }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "koala.selectorLabels" $ | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
{{- end }}
{{- end }}
{{- end -}}

{{/* The rules of the generated RBAC file (files/rbac/<file>.yaml) of one kind,
ClusterRole or Role: (dict "root" $ "file" "operator" "kind" "Role"). The files are
copies of config/rbac, generated from the code's +kubebuilder:rbac markers, so the
chart grants what the code declares and nothing else. */}}
{{- define "koala.generatedRules" -}}
{{- $path := printf "files/rbac/%s.yaml" .file -}}
{{- $raw := .root.Files.Get $path -}}
{{- if not $raw }}{{ fail (printf "%s is missing: run make manifests" $path) }}{{ end -}}
{{- $rules := list -}}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" $raw -1 -}}
{{- $obj := fromYaml $doc -}}
{{- if eq (get $obj "kind") $.kind -}}
{{- if and (eq $.kind "Role") (ne $obj.metadata.namespace "koala-system") -}}
{{- fail (printf "%s: a Role in namespace %q; the markers may only name koala-system, the release's namespace" $path $obj.metadata.namespace) -}}
{{- end -}}
{{- $rules = concat $rules $obj.rules -}}
{{- end -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}

{{/* The name of the operator's status ConfigMap: fixed, because the generated Role
grants access to it by this name (internal/operator/rbac.go). */}}
{{- define "koala.statusConfigMap" -}}koala-operator-status{{- end -}}

{{/* The host[:port] the EC2 endpoint tells clients it is at. */}}
{{- define "koala.publicEndpoint" -}}
{{- if .Values.ec2.publicEndpoint -}}
{{- .Values.ec2.publicEndpoint -}}
{{- else if .Values.ec2.ingress.enabled -}}
{{- .Values.ec2.ingress.host -}}
{{- else -}}
{{- printf "%s-ec2.%s.svc:%v" (include "koala.fullname" .) .Release.Namespace .Values.ec2.service.port -}}
{{- end -}}
{{- end -}}
