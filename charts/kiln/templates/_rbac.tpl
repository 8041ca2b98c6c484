{{/* The operator's namespaced permissions, shared by its ClusterRole and its Roles. */}}
{{- define "kiln.operatorRules" -}}
- apiGroups: ["kiln.dev"]
  resources: ["trainingjobs", "modeldeployments"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["kiln.dev"]
  resources: ["trainingjobs/status", "modeldeployments/status"]
  verbs: ["get", "patch"]
- apiGroups: ["ray.io"]
  resources: ["rayjobs", "rayservices"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
