{{/*
Names and labels, as `helm create` makes them: Kubernetes names are at most 63
characters.
*/}}
{{- define "kpm33b-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kpm33b-bridge.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The HTTP Service's name: the full name (shortened to leave room) plus "-http". */}}
{{- define "kpm33b-bridge.httpServiceName" -}}
{{- printf "%s-http" (include "kpm33b-bridge.fullname" . | trunc 58 | trimSuffix "-") }}
{{- end }}

{{- define "kpm33b-bridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kpm33b-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kpm33b-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The selector labels of one workload: with `cluster.enabled` the data replicas
(component "data") and the configuration-flow pod ("config-flow") are told
apart, so their controllers never select each other's pods. Called with a
dict of `root` (the chart's context) and `component`.
*/}}
{{- define "kpm33b-bridge.workloadSelectorLabels" -}}
{{ include "kpm33b-bridge.selectorLabels" .root }}
{{- if .root.Values.cluster.enabled }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "kpm33b-bridge.labels" -}}
helm.sh/chart: {{ include "kpm33b-bridge.chart" . }}
{{ include "kpm33b-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kpm33b-bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kpm33b-bridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kpm33b-bridge.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret the bridge's environment comes from. */}}
{{- define "kpm33b-bridge.secretName" -}}
{{- default (include "kpm33b-bridge.fullname" .) .Values.existingSecret }}
{{- end }}

{{/*
The port Mosquitto listens on for meters: the listener of
"kpm33b-bridge.mosquittoConf", the one of the repository's
mosquitto/internal.conf. The embedded broker is off then, so the bridge
reaches Mosquitto on this port over the pod's loopback.
*/}}
{{- define "kpm33b-bridge.mosquittoPort" -}}
11883
{{- end }}

{{/* The port meters connect to inside the pod: Mosquitto's, or the embedded broker's. */}}
{{- define "kpm33b-bridge.metersPort" -}}
{{- if .Values.mosquitto.enabled }}
{{- include "kpm33b-bridge.mosquittoPort" . }}
{{- else }}
{{- .Values.config.internal_broker.embedded.port | int }}
{{- end }}
{{- end }}

{{/* The embedded broker's TLS port for meters, or nothing when it has no TLS listener. */}}
{{- define "kpm33b-bridge.metersTlsPort" -}}
{{- if not .Values.mosquitto.enabled }}
{{- with dig "internal_broker" "embedded" "tls" "port" "" .Values.config }}
{{- . | int }}
{{- end }}
{{- end }}
{{- end }}

{{/*
"true" when the state directory lives on a claim: persistence on and the
outbox on disk. Without the outbox only the config sender's small state file
(which meters were configured today) is there; losing it on a reschedule means
each meter is configured once more, so an emptyDir does.
*/}}
{{- define "kpm33b-bridge.persistent" -}}
{{- if and .Values.persistence.enabled (dig "outbox" "enabled" true .Values.config) }}true{{ end }}
{{- end }}

{{- define "kpm33b-bridge.claimName" -}}
{{- default (include "kpm33b-bridge.fullname" .) .Values.persistence.existingClaim }}
{{- end }}

{{/*
The bridge's config.yaml: `config` as given, except that with
`mosquitto.enabled` the meters' broker is the Mosquitto container (the bridge
logs in with its own account, whose password the auth init container writes
into Mosquitto's accounts).
*/}}
{{- define "kpm33b-bridge.config" -}}
{{- $config := deepCopy .Values.config }}
{{- if .Values.mosquitto.enabled }}
{{- $internal := dict }}
{{- if hasKey $config "internal_broker" }}
{{- $internal = index $config "internal_broker" }}
{{- end }}
{{- $_ := set $internal "url" (printf "mqtt://127.0.0.1:%s" (include "kpm33b-bridge.mosquittoPort" .)) }}
{{- $_ = set $internal "username" "bridge" }}
{{- $_ = set $internal "password" "${KPM33B_INTERNAL_PASSWORD}" }}
{{- $_ = set $internal "embedded" (dict "enabled" false) }}
{{- $_ = set $config "internal_broker" $internal }}
{{- end }}
{{- if .Values.cluster.enabled }}
{{- /* Each pod's name is its replica name (KPM33B_REPLICA, from the downward API). */}}
{{- $_ := set $config "cluster" (dict "share_group" .Values.cluster.shareGroup "replica" "${KPM33B_REPLICA}") }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
Mosquitto's configuration: the settings of the repository's
mosquitto/internal.conf, with its relative paths made absolute for the
container (the accounts from the auth init container, persistence on the state
volume).
*/}}
{{- define "kpm33b-bridge.mosquittoConf" -}}
per_listener_settings false

# Meters connect here; the bridge too, over the pod's loopback.
listener 11883

# Nobody gets in without an account; the bridge and every meter have one.
allow_anonymous false

# The accounts and what each may do, written from config.yaml: meters publish
# only uplink topics; the shared meter account reads any meter's command topics
# except those of meters with an account of their own, which read only their
# own; no meter reads another's readings; the bridge may do everything.
plugin mosquitto_dynamic_security.so
plugin_opt_config_file /mosquitto/auth/dynamic-security.json

# Keep QoS 1 sessions and retained messages across restarts, so readings
# queued for the bridge's persistent session survive a restart of the pod.
persistence true
persistence_location /mosquitto/data/
autosave_interval 60

# Readings queued for the bridge while it is away (restart, update, crash):
# meters x readings per minute x minutes of outage to cover.
max_queued_messages 100000
# Readings sent to the bridge before it acknowledges them.
max_inflight_messages 100
# Small packets leave at once, without waiting for the TCP acknowledgement of
# the one before (see mosquitto/internal.conf).
set_tcp_nodelay true

# Meter payloads are small: a packet longer than the bridge's
# limits.max_payload_bytes (default 65536) plus 1 KiB for topic and headers
# closes the client's connection, as the embedded broker does. Change both together.
max_packet_size 66560

log_dest stderr
log_type error
log_type warning
log_type notice
connection_messages true
{{- with .Values.mosquitto.extraConfig }}

{{ . }}
{{- end }}
{{- end }}

{{/*
The variables `config` references (after the chart's own changes, see
"kpm33b-bridge.config"), as JSON: name to true when some reference has no
default (`${NAME}`: the bridge refuses to start without it), false when every
one has (`${NAME:-…}`). `$${` writes a literal `${` and references nothing.
*/}}
{{- define "kpm33b-bridge.configReferences" -}}
{{- $references := dict }}
{{- range regexFindAll "\\$?\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}" (include "kpm33b-bridge.config" .) -1 }}
{{- if not (hasPrefix "$$" .) }}
{{- $name := regexReplaceAll "^\\$\\{([A-Za-z_][A-Za-z0-9_]*).*$" . "${1}" }}
{{- $_ := set $references $name (or (get $references $name) (not (contains ":-" .))) }}
{{- end }}
{{- end }}
{{- toJson $references }}
{{- end }}

{{/*
The data of the chart's Secret as JSON (variable name to base64 value): the
values given in `secret`, and for each variable `config` references that is
not given again, the value the release's Secret already holds, so that an
upgrade without `--set-string secret.centralPassword=…` keeps the password
instead of logging in without one (`lookup` reads the Secret; it finds nothing
in `helm template` or a client-side dry run). With `mosquitto.enabled` the
bridge's own Mosquitto password is generated once when not given: it is
stored in `.Values.secret.internalPassword`, so every template of one render
sees the same.
*/}}
{{- define "kpm33b-bridge.secretData" -}}
{{- $secret := .Values.secret }}
{{- $given := dict "KPM33B_METER_PASSWORD" $secret.meterPassword "KPM33B_CENTRAL_PASSWORD" $secret.centralPassword "KPM33B_INTERNAL_PASSWORD" $secret.internalPassword }}
{{- range $name, $value := $secret.extra }}
{{- $_ := set $given $name $value }}
{{- end }}
{{- $data := dict }}
{{- range $name, $value := $given }}
{{- if $value }}
{{- $_ := set $data $name (toString $value | b64enc) }}
{{- end }}
{{- end }}
{{- $previous := dig "data" dict (lookup "v1" "Secret" .Release.Namespace (include "kpm33b-bridge.fullname" .)) }}
{{- range $name, $_ := include "kpm33b-bridge.configReferences" . | fromJson }}
{{- if and (not (hasKey $data $name)) (hasKey $previous $name) }}
{{- $_ := set $data $name (get $previous $name) }}
{{- end }}
{{- end }}
{{- if and .Values.mosquitto.enabled (not (hasKey $data "KPM33B_INTERNAL_PASSWORD")) }}
{{- $generated := randAlphaNum 48 }}
{{- $_ := set $secret "internalPassword" $generated }}
{{- $_ := set $data "KPM33B_INTERNAL_PASSWORD" ($generated | b64enc) }}
{{- end }}
{{- toJson $data }}
{{- end }}

{{/* The value of `secret` that sets a variable of the chart's Secret. */}}
{{- define "kpm33b-bridge.secretValueFor" -}}
{{- $fields := dict "KPM33B_METER_PASSWORD" "secret.meterPassword" "KPM33B_CENTRAL_PASSWORD" "secret.centralPassword" "KPM33B_INTERNAL_PASSWORD" "secret.internalPassword" }}
{{- get $fields . | default (printf "secret.extra.%s" .) }}
{{- end }}

{{/* Variables set by extraEnv, or by the chart in the pods' env, as JSON (name to true). */}}
{{- define "kpm33b-bridge.envNames" -}}
{{- $names := dict }}
{{- range .Values.extraEnv }}
{{- $_ := set $names .name true }}
{{- end }}
{{- if .Values.cluster.enabled }}
{{- $_ := set $names "KPM33B_REPLICA" true }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{/*
Whether meters can log in at all: a shared password (from the chart's Secret,
an existing Secret, extraEnv or written into `config`) or bound accounts.
*/}}
{{- define "kpm33b-bridge.meterCredentials" -}}
{{- $auth := dig "internal_broker" "meter_auth" dict .Values.config }}
{{- $password := toString (dig "password" "" $auth) }}
{{- $fromEnv := hasKey (include "kpm33b-bridge.envNames" . | fromJson) "KPM33B_METER_PASSWORD" }}
{{- $fromSecret := .Values.existingSecret }}
{{- if not $fromSecret }}
{{- $fromSecret = hasKey (include "kpm33b-bridge.secretData" . | fromJson) "KPM33B_METER_PASSWORD" }}
{{- end }}
{{- if or $fromSecret $fromEnv (and $password (not (contains "KPM33B_METER_PASSWORD" $password))) }}shared
{{- else if dig "accounts" dict $auth }}accounts
{{- end }}
{{- end }}

{{/*
Refuses a variable `config` needs (`${NAME}` without a default) that nothing
sets: neither the chart's Secret (given now or kept from the release's
Secret), nor extraEnv. An existingSecret is checked for the key when it can
be read; a missing one keeps the pod from starting (its envFrom is not
optional).
*/}}
{{- define "kpm33b-bridge.validateReferences" -}}
{{- $env := include "kpm33b-bridge.envNames" . | fromJson }}
{{- $existing := dict }}
{{- if .Values.existingSecret }}
{{- $existing = lookup "v1" "Secret" .Release.Namespace .Values.existingSecret }}
{{- end }}
{{- $data := dig "data" dict $existing }}
{{- if not .Values.existingSecret }}
{{- $data = include "kpm33b-bridge.secretData" . | fromJson }}
{{- end }}
{{- range $name, $required := include "kpm33b-bridge.configReferences" . | fromJson }}
{{- if and $required (not (hasKey $env $name)) (not (hasKey $data $name)) }}
{{- if not $.Values.existingSecret }}
{{- $field := include "kpm33b-bridge.secretValueFor" $name }}
{{- fail (printf "\n\nconfig references ${%s} without a default, but nothing sets it, so the bridge would not start. Set %s (--set-string %s=...), or extraEnv, or existingSecret with a %s key. (On an upgrade the chart keeps the value of the release's Secret; it cannot read it in helm template or a client-side dry run.)" $name $field $field $name) }}
{{- else if $existing }}
{{- fail (printf "\n\nconfig references ${%s} without a default, but Secret %s (existingSecret) has no key %s: add it (kubectl -n %s edit secret %s) or set the variable with extraEnv." $name $.Values.existingSecret $name $.Release.Namespace $.Values.existingSecret) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Refuses settings that would render a pod that cannot work. Included by the
Deployment.
*/}}
{{- define "kpm33b-bridge.validate" -}}
{{- if .Values.cluster.enabled }}
{{- if dig "internal_broker" "embedded" "enabled" false .Values.config }}
{{- fail "\n\ncluster.enabled runs replicas on a clustered meters' broker with shared subscriptions: set config.internal_broker.embedded.enabled to false and config.internal_broker.url to that broker (e.g. mqtt://emqx.emqx:1883)." }}
{{- end }}
{{- if .Values.mosquitto.enabled }}
{{- fail "\n\ncluster.enabled and mosquitto.enabled exclude each other: the replicas share a clustered meters' broker, not a Mosquitto container per pod." }}
{{- end }}
{{- else if not (include "kpm33b-bridge.meterCredentials" .) }}
{{- fail "\n\nMeters could not log in: the meters' broker refuses everyone without credentials. Set secret.meterPassword (--set-string secret.meterPassword=...), existingSecret with a KPM33B_METER_PASSWORD key, or config.internal_broker.meter_auth.accounts." }}
{{- end }}
{{- include "kpm33b-bridge.validateReferences" . }}
{{- if and .Values.serviceMonitor.enabled (not .Values.config.http.enabled) }}
{{- fail "\n\nserviceMonitor.enabled scrapes /metrics of the HTTP endpoint: set config.http.enabled to true." }}
{{- end }}
{{- end }}

{{/*
Probes of the bridge container against its HTTP endpoint; nothing without it.
*/}}
{{- define "kpm33b-bridge.probes" -}}
{{- if .Values.config.http.enabled }}
{{- with .Values.probes.startup }}
{{- if .enabled }}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .periodSeconds }}
  failureThreshold: {{ .failureThreshold }}
  timeoutSeconds: {{ .timeoutSeconds }}
{{- end }}
{{- end }}
{{- with .Values.probes.liveness }}
{{- if .enabled }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .periodSeconds }}
  failureThreshold: {{ .failureThreshold }}
  timeoutSeconds: {{ .timeoutSeconds }}
{{- end }}
{{- end }}
{{- with .Values.probes.readiness }}
{{- if .enabled }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: {{ .periodSeconds }}
  failureThreshold: {{ .failureThreshold }}
  timeoutSeconds: {{ .timeoutSeconds }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The replica name of each pod: its own name, from the downward API. */}}
{{- define "kpm33b-bridge.replicaEnv" -}}
- name: KPM33B_REPLICA
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
