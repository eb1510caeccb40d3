{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "herd.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name of every object. */}}
{{- define "herd.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "herd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The serving pods only (the compile Job's pod must not join the Service or the PDB). */}}
{{- define "herd.serverSelectorLabels" -}}
{{ include "herd.selectorLabels" . }}
herd.dev/role: server
{{- end }}

{{- define "herd.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "herd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.backend }}
herd.dev/instance-type: {{ .Values.inference.instanceType }}
{{- end }}

{{/* The pods' ServiceAccount: the one the chart creates, or an existing one by name (empty: none set). */}}
{{- define "herd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "herd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The serving image. herd's defaults to the chart's appVersion (-cuda on NVIDIA nodes), as the release
workflow tags it; vLLM images have no usable default tag. ghcr.io/OWNER/herd is the unpublished
placeholder of a checkout: refused, never rendered.
*/}}
{{- define "herd.image" -}}
{{- $repo := .Values.image.repository }}
{{- if hasPrefix "ghcr.io/OWNER/" $repo }}
{{- fail (printf "image.repository is the placeholder %s, published nowhere: set it to a herd image (the release workflow pushes ghcr.io/<owner>/herd; your own ECR build: docs/deploy.md), e.g. herd deploy --image <registry>/herd:%s" $repo .Chart.AppVersion) }}
{{- end }}
{{- if eq .Values.backend "herd" }}
{{- printf "%s:%s" $repo (default (printf "%s%s" .Chart.AppVersion (ternary "-cuda" "" (eq .Values.inference.accelerator "nvidia"))) .Values.image.tag) }}
{{- else }}
{{- $tag := required (printf "image.tag is required for backend %s: name the image with its tag, e.g. herd deploy --image %s:<tag>" .Values.backend $repo) .Values.image.tag }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{/* The image with the herd CLI (artifact staging, compile job). */}}
{{- define "herd.herdImage" -}}
{{- printf "%s:%s" .Values.herdImage.repository (default .Chart.AppVersion .Values.herdImage.tag) }}
{{- end }}

{{/* What the server loads: the artifacts mount holds herd's GGUF folder or, for vllm, a checkpoint folder;
vllm-neuron's artifacts are compiled graphs (NEURON_COMPILED_ARTIFACTS), so it loads the model id. */}}
{{- define "herd.modelPath" -}}
{{- if .Values.modelPath }}{{ .Values.modelPath }}
{{- else if and (ne .Values.backend "vllm-neuron") (ne .Values.artifacts.source "none") }}{{ .Values.artifacts.mountPath }}
{{- else if ne .Values.backend "herd" }}{{ .Values.model }}
{{- end }}
{{- end }}

{{/* Device requests: the count is the planner's, the resource name follows the accelerator. */}}
{{- define "herd.deviceResources" -}}
{{- if eq .Values.inference.accelerator "neuron" }}
aws.amazon.com/neuron: {{ .Values.inference.devices }}
{{- else if eq .Values.inference.accelerator "nvidia" }}
nvidia.com/gpu: {{ .Values.inference.devices }}
{{- end }}
{{- end }}

{{- define "herd.resources" -}}
requests:
  {{- with .Values.resources.requests }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- include "herd.deviceResources" . | trim | nindent 2 }}
limits:
  {{- with .Values.resources.limits }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- include "herd.deviceResources" . | trim | nindent 2 }}
{{- end }}

{{/* Scheduling shared by the Deployment and the compile Job. */}}
{{- define "herd.scheduling" -}}
nodeSelector:
  {{- toYaml .Values.nodeSelector | nindent 2 }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.schedulerName }}
schedulerName: {{ . }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Environment of the serving container (and the compile step). */}}
{{- define "herd.env" -}}
{{- if .Values.hfToken.secretName }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ .Values.hfToken.secretName | quote }}, key: {{ .Values.hfToken.key | quote }}, optional: {{ .Values.hfToken.optional }}}
- name: HUGGING_FACE_HUB_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ .Values.hfToken.secretName | quote }}, key: {{ .Values.hfToken.key | quote }}, optional: {{ .Values.hfToken.optional }}}
{{- end }}
{{- if .Values.apiKey.secretName }}
- name: {{ if eq .Values.backend "herd" }}HERD_API_KEY{{ else }}VLLM_API_KEY{{ end }}
  valueFrom:
    secretKeyRef: {name: {{ .Values.apiKey.secretName | quote }}, key: {{ .Values.apiKey.key | quote }}}
{{- end }}
{{- if eq .Values.backend "vllm-neuron" }}
{{- if ne .Values.artifacts.source "none" }}
- name: NEURON_COMPILED_ARTIFACTS
  value: {{ .Values.artifacts.mountPath | quote }}
{{- end }}
{{- if .Values.inference.logicalNeuronCoreConfig }}
- name: NEURON_LOGICAL_NC_CONFIG
  value: {{ .Values.inference.logicalNeuronCoreConfig | quote }}
{{- end }}
{{- end }}
{{- range $k, $v := .Values.env }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end }}

{{/* Environment of `herd artifacts pull|push` (AWS SDK conventions; IRSA/Pod Identity supply credentials otherwise). */}}
{{- define "herd.s3Env" -}}
{{- with .Values.artifacts.s3.region }}
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- with .Values.artifacts.s3.endpoint }}
- name: AWS_ENDPOINT_URL_S3
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{- define "herd.s3EnvFrom" -}}
{{- with .Values.artifacts.s3.credentialsSecret }}
envFrom:
  - secretRef: {name: {{ . | quote }}}
{{- end }}
{{- end }}

{{/* Server arguments, per backend. */}}
{{- define "herd.args" -}}
{{- $p := .Values.modelParameters }}
{{- if eq .Values.backend "herd" }}
- serve
{{- with include "herd.modelPath" . }}
- --model
- {{ . | quote }}
{{- end }}
- --served-model-name
- {{ .Values.model | quote }}
- --host
- "0.0.0.0"
- --port
- "8000"
- --max-model-len
- {{ $p.maxModelLen | quote }}
- --max-num-seqs
- {{ $p.maxNumSeqs | quote }}
- --device
- {{ if eq .Values.inference.accelerator "nvidia" }}cuda{{ else }}cpu{{ end }}
{{- else if eq .Values.backend "vllm" }}
{{- $v := .Values.vllm }}
- {{ include "herd.modelPath" . | quote }}
- --served-model-name
- {{ .Values.model | quote }}
- --host
- "0.0.0.0"
- --port
- "8000"
- --tensor-parallel-size
- {{ $p.tensorParallelSize | quote }}
- --max-model-len
- {{ $p.maxModelLen | quote }}
- --max-num-seqs
- {{ $p.maxNumSeqs | quote }}
- --gpu-memory-utilization
- {{ $v.gpuMemoryUtilization | quote }}
- --kv-cache-dtype
- {{ $v.kvCacheDtype | quote }}
{{- with $v.quantization }}
- --quantization
- {{ . | quote }}
{{- end }}
{{- with $v.toolCallParser }}
- --enable-auto-tool-choice
- --tool-call-parser
- {{ . | quote }}
{{- end }}
{{- with $v.chatTemplate }}
- --chat-template
- {{ . | quote }}
{{- end }}
{{- else }}
- --model
- {{ include "herd.modelPath" . | quote }}
- --served-model-name
- {{ .Values.model | quote }}
- --host
- "0.0.0.0"
- --port
- "8000"
- --tensor-parallel-size
- {{ $p.tensorParallelSize | quote }}
- --max-model-len
- {{ $p.maxModelLen | quote }}
- --max-num-seqs
- {{ $p.maxNumSeqs | quote }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* Neuron artifacts (vllm-neuron): scripts from files/ in a ConfigMap, run in the AWS CLI image and the vLLM pod. */}}
{{- define "herd.neuronArtifactScripts" -}}
{{- if and (eq .Values.backend "vllm-neuron") (or (ne .Values.artifacts.source "none") .Values.compileJob.enabled) }}true
{{- else if and (eq .Values.backend "vllm") (eq .Values.artifacts.source "s3") }}true{{ end }}
{{- end }}

{{/* The public AWS CLI image that stages and publishes Neuron artifacts (sh, sha256sum, aws). */}}
{{- define "herd.stagingImage" -}}
{{- printf "%s:%s" .Values.artifacts.stagingImage.repository .Values.artifacts.stagingImage.tag }}
{{- end }}

{{- define "herd.scriptsMount" -}}
- name: herd-scripts
  mountPath: /herd/scripts
  readOnly: true
{{- end }}

{{- define "herd.scriptsVolume" -}}
- name: herd-scripts
  configMap:
    name: {{ include "herd.fullname" . }}-artifact-scripts
{{- end }}

{{/* What the artifact must have been compiled for: vLLM's TP degree and max model length (seq_len). */}}
{{- define "herd.expectedCompileEnv" -}}
- name: HERD_EXPECT_TP_DEGREE
  value: {{ .Values.modelParameters.tensorParallelSize | quote }}
- name: HERD_EXPECT_SEQ_LEN
  value: {{ .Values.modelParameters.maxModelLen | quote }}
{{- end }}
