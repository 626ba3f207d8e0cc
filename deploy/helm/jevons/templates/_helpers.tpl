{{/* Names and labels. */}}
{{- define "jevons.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "jevons.fullname" -}}
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

{{- define "jevons.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "jevons.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: include with (dict "ctx" $ "component" "aggregator"). */}}
{{- define "jevons.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jevons.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "jevons.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "jevons.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "jevons.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
jevons.mebibytes: a Kubernetes memory quantity (e.g. 640Mi, 1Gi, 700M, 671088640) in whole
MiB, rounded down. Fails on forms it does not know rather than guessing.
*/}}
{{- define "jevons.mebibytes" -}}
{{- $q := toString . }}
{{- if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) }}{{ $q = int64 . | toString }}{{ end }}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 }}
{{- $m := regexFindAll "^([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q -1 }}
{{- if not $m }}
{{- fail (printf "memory quantity %q: expected an integer with an optional suffix Ki, Mi, Gi, Ti, k, M, G or T" $q) }}
{{- end }}
{{- $num := regexReplaceAll "^([0-9]+).*$" $q "${1}" | int64 }}
{{- $suffix := regexReplaceAll "^[0-9]+" $q "" }}
{{- $mult := 1 }}
{{- if $suffix }}{{ $mult = get $units $suffix }}{{ end }}
{{- div (mul $num $mult) 1048576 }}
{{- end }}

{{/* The aggregator's --memory-limit-mib, or nothing when neither a limit nor an override is set. */}}
{{- define "jevons.aggregatorMemoryLimitMiB" -}}
{{- $a := .Values.aggregator }}
{{- if not (kindIs "invalid" $a.memoryLimitMiB) }}
{{- $a.memoryLimitMiB | int64 }}
{{- else if and $a.resources $a.resources.limits $a.resources.limits.memory }}
{{- $limit := include "jevons.mebibytes" $a.resources.limits.memory | int64 }}
{{- $pct := $a.memoryLimitPercent | int64 }}
{{- if or (lt $pct 1) (gt $pct 100) }}
{{- fail (printf "aggregator.memoryLimitPercent is %d: want 1 to 100" $pct) }}
{{- end }}
{{- div (mul $limit $pct) 100 }}
{{- end }}
{{- end }}

{{/* Catalog overlay files as mounted, in a stable order. */}}
{{- define "jevons.catalogFiles" -}}
{{- $files := list }}
{{- if .Values.pricing.existingConfigMap }}
{{- $files = .Values.pricing.files }}
{{- else }}
{{- $files = keys .Values.pricing.overlays | sortAlpha }}
{{- end }}
{{- range $files }}
{{ printf "/etc/jevons/catalog/%s" . }}
{{- end }}
{{- end }}

{{- define "jevons.catalogConfigMap" -}}
{{- default (printf "%s-catalog" (include "jevons.fullname" .)) .Values.pricing.existingConfigMap }}
{{- end }}

{{- define "jevons.hasCatalog" -}}
{{- if or .Values.pricing.existingConfigMap .Values.pricing.overlays }}true{{ end }}
{{- end }}

{{/*
Environment of the commands that connect to ClickHouse: the credentials and TLS, as the
commands' flags read them (JEVONS_<FLAG>: --clickhouse-user, --clickhouse-password,
--clickhouse-tls, --clickhouse-tls-ca). deploy/helm/check fails on a name no command reads.
*/}}
{{- define "jevons.clickhouseEnv" -}}
{{- $ch := .Values.clickhouse }}
{{- if and $ch.auth.existingSecret $ch.auth.usernameKey }}
- name: JEVONS_CLICKHOUSE_USER
  valueFrom:
    secretKeyRef:
      name: {{ $ch.auth.existingSecret }}
      key: {{ $ch.auth.usernameKey }}
{{- else }}
- name: JEVONS_CLICKHOUSE_USER
  value: {{ $ch.auth.username | quote }}
{{- end }}
{{- if $ch.auth.existingSecret }}
- name: JEVONS_CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $ch.auth.existingSecret }}
      key: {{ $ch.auth.passwordKey }}
{{- end }}
{{- if $ch.tls.enabled }}
- name: JEVONS_CLICKHOUSE_TLS
  value: "true"
{{- if $ch.tls.caSecret }}
- name: JEVONS_CLICKHOUSE_TLS_CA
  value: /etc/jevons/clickhouse-ca/{{ $ch.tls.caKey }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Environment of the commands that connect to Kafka: SASL/SCRAM and TLS, as the commands'
flags read them (--kafka-sasl-mechanism, --kafka-sasl-user, --kafka-sasl-password,
--kafka-tls, --kafka-tls-ca).
*/}}
{{- define "jevons.kafkaEnv" -}}
{{- $k := .Values.kafka }}
{{- if $k.sasl.enabled }}
{{- if not $k.sasl.existingSecret }}
{{- fail "kafka.sasl.enabled needs kafka.sasl.existingSecret (the Secret with the SCRAM password)" }}
{{- end }}
- name: JEVONS_KAFKA_SASL_MECHANISM
  value: {{ $k.sasl.mechanism | quote }}
- name: JEVONS_KAFKA_SASL_USER
  value: {{ $k.sasl.username | quote }}
- name: JEVONS_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $k.sasl.existingSecret }}
      key: {{ $k.sasl.passwordKey }}
{{- end }}
{{- if $k.tls.enabled }}
- name: JEVONS_KAFKA_TLS
  value: "true"
{{- if $k.tls.caSecret }}
- name: JEVONS_KAFKA_TLS_CA
  value: /etc/jevons/kafka-ca/{{ $k.tls.caKey }}
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes and mounts for the CA certificates. */}}
{{- define "jevons.tlsVolumes" -}}
{{- if and .Values.clickhouse.tls.enabled .Values.clickhouse.tls.caSecret }}
- name: clickhouse-ca
  secret:
    secretName: {{ .Values.clickhouse.tls.caSecret }}
    items:
      - key: {{ .Values.clickhouse.tls.caKey }}
        path: {{ .Values.clickhouse.tls.caKey }}
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
    items:
      - key: {{ .Values.kafka.tls.caKey }}
        path: {{ .Values.kafka.tls.caKey }}
{{- end }}
{{- end }}

{{- define "jevons.tlsMounts" -}}
{{- if and .Values.clickhouse.tls.enabled .Values.clickhouse.tls.caSecret }}
- name: clickhouse-ca
  mountPath: /etc/jevons/clickhouse-ca
  readOnly: true
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/jevons/kafka-ca
  readOnly: true
{{- end }}
{{- end }}
