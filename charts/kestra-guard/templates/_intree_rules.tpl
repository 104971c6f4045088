{{- /* Generated from policy.Rules by `make generate` (internal/intree); do not edit. */ -}}

{{- /* (list root class): the validations of the rules whose action is class. */ -}}
{{- define "kestra-guard.intree.validations" -}}
{{- $root := index . 0 }}{{- $class := index . 1 }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "run-as-non-root" "deny")) $class }}
- expression: object.spec.?securityContext.?runAsUser.orValue(1) != 0
  message: 'kestra-guard: run-as-non-root: spec.securityContext.runAsUser: container
    may run as root: the Pod sets runAsUser=0; set a non-zero runAsUser such as 65532'
  reason: Forbidden
- expression: object.spec.?securityContext.?runAsNonRoot.orValue(true) == true
  message: 'kestra-guard: run-as-non-root: spec.securityContext.runAsNonRoot: container
    may run as root: the Pod sets runAsNonRoot=false; set runAsNonRoot: true with
    a non-zero runAsUser'
  reason: Forbidden
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?runAsUser.orValue(1)
    != 0)
  messageExpression: '"kestra-guard: run-as-non-root: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?runAsUser.orValue(1) != 0), "spec.initContainers[" +
    string(i) + "].securityContext.runAsUser" + '' (container '' + c.name + '')'').join('',
    '') + ": container may run as root: runAsUser=0; set a non-zero runAsUser such
    as 65532"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?runAsUser.orValue(1)
    != 0)
  messageExpression: '"kestra-guard: run-as-non-root: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?runAsUser.orValue(1) != 0), "spec.containers[" + string(i)
    + "].securityContext.runAsUser" + '' (container '' + c.name + '')'').join('',
    '') + ": container may run as root: runAsUser=0; set a non-zero runAsUser such
    as 65532"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?runAsUser.orValue(1)
    != 0)
  messageExpression: '"kestra-guard: run-as-non-root: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?runAsUser.orValue(1) != 0), "spec.ephemeralContainers["
    + string(i) + "].securityContext.runAsUser" + '' (container '' + c.name + '')'').join('',
    '') + ": container may run as root: runAsUser=0; set a non-zero runAsUser such
    as 65532"'
  reason: Forbidden
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?runAsNonRoot.orValue(true)
    == true)
  messageExpression: '"kestra-guard: run-as-non-root: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?runAsNonRoot.orValue(true) == true), "spec.initContainers["
    + string(i) + "].securityContext.runAsNonRoot" + '' (container '' + c.name + '')'').join('',
    '') + ": container may run as root: runAsNonRoot=false; set runAsNonRoot: true
    with a non-zero runAsUser"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?runAsNonRoot.orValue(true)
    == true)
  messageExpression: '"kestra-guard: run-as-non-root: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?runAsNonRoot.orValue(true) == true), "spec.containers["
    + string(i) + "].securityContext.runAsNonRoot" + '' (container '' + c.name + '')'').join('',
    '') + ": container may run as root: runAsNonRoot=false; set runAsNonRoot: true
    with a non-zero runAsUser"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?runAsNonRoot.orValue(true)
    == true)
  messageExpression: '"kestra-guard: run-as-non-root: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?runAsNonRoot.orValue(true) == true), "spec.ephemeralContainers["
    + string(i) + "].securityContext.runAsNonRoot" + '' (container '' + c.name + '')'').join('',
    '') + ": container may run as root: runAsNonRoot=false; set runAsNonRoot: true
    with a non-zero runAsUser"'
  reason: Forbidden
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?runAsUser.orValue(object.spec.?securityContext.?runAsUser.orValue(0))
    != 0 || c.?securityContext.?runAsNonRoot.orValue(object.spec.?securityContext.?runAsNonRoot.orValue(false))
    == true)
  messageExpression: '"kestra-guard: run-as-non-root: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?runAsUser.orValue(object.spec.?securityContext.?runAsUser.orValue(0))
    != 0 || c.?securityContext.?runAsNonRoot.orValue(object.spec.?securityContext.?runAsNonRoot.orValue(false))
    == true), "spec.initContainers[" + string(i) + "].securityContext.runAsNonRoot"
    + '' (container '' + c.name + '')'').join('', '') + ": container may run as root:
    neither runAsNonRoot: true nor a non-zero runAsUser, at Pod or container level;
    set both in the Pod''s securityContext"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?runAsUser.orValue(object.spec.?securityContext.?runAsUser.orValue(0))
    != 0 || c.?securityContext.?runAsNonRoot.orValue(object.spec.?securityContext.?runAsNonRoot.orValue(false))
    == true)
  messageExpression: '"kestra-guard: run-as-non-root: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?runAsUser.orValue(object.spec.?securityContext.?runAsUser.orValue(0))
    != 0 || c.?securityContext.?runAsNonRoot.orValue(object.spec.?securityContext.?runAsNonRoot.orValue(false))
    == true), "spec.containers[" + string(i) + "].securityContext.runAsNonRoot" +
    '' (container '' + c.name + '')'').join('', '') + ": container may run as root:
    neither runAsNonRoot: true nor a non-zero runAsUser, at Pod or container level;
    set both in the Pod''s securityContext"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?runAsUser.orValue(object.spec.?securityContext.?runAsUser.orValue(0))
    != 0 || c.?securityContext.?runAsNonRoot.orValue(object.spec.?securityContext.?runAsNonRoot.orValue(false))
    == true)
  messageExpression: '"kestra-guard: run-as-non-root: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?runAsUser.orValue(object.spec.?securityContext.?runAsUser.orValue(0))
    != 0 || c.?securityContext.?runAsNonRoot.orValue(object.spec.?securityContext.?runAsNonRoot.orValue(false))
    == true), "spec.ephemeralContainers[" + string(i) + "].securityContext.runAsNonRoot"
    + '' (container '' + c.name + '')'').join('', '') + ": container may run as root:
    neither runAsNonRoot: true nor a non-zero runAsUser, at Pod or container level;
    set both in the Pod''s securityContext"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "read-only-root-filesystem" "deny")) $class }}
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?readOnlyRootFilesystem.orValue(false)
    == true)
  messageExpression: '"kestra-guard: read-only-root-filesystem: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?readOnlyRootFilesystem.orValue(false) == true), "spec.initContainers["
    + string(i) + "].securityContext.readOnlyRootFilesystem" + '' (container '' +
    c.name + '')'').join('', '') + ": root filesystem is writable: set readOnlyRootFilesystem:
    true and mount an emptyDir at /tmp for scratch files"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?readOnlyRootFilesystem.orValue(false)
    == true)
  messageExpression: '"kestra-guard: read-only-root-filesystem: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?readOnlyRootFilesystem.orValue(false) == true), "spec.containers["
    + string(i) + "].securityContext.readOnlyRootFilesystem" + '' (container '' +
    c.name + '')'').join('', '') + ": root filesystem is writable: set readOnlyRootFilesystem:
    true and mount an emptyDir at /tmp for scratch files"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?readOnlyRootFilesystem.orValue(false)
    == true)
  messageExpression: '"kestra-guard: read-only-root-filesystem: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?readOnlyRootFilesystem.orValue(false) == true), "spec.ephemeralContainers["
    + string(i) + "].securityContext.readOnlyRootFilesystem" + '' (container '' +
    c.name + '')'').join('', '') + ": root filesystem is writable: set readOnlyRootFilesystem:
    true and mount an emptyDir at /tmp for scratch files"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-host-path" "deny")) $class }}
- expression: 'object.spec.?volumes.orValue([]).all(v, !has(v.hostPath) || variables.hostPathAllowList.exists(a,
    (''/'' + v.hostPath.path + ''/'').replace(''/./'', ''/'').replace(''/./'', ''/'').replace(''//'',
    ''/'').replace(''//'', ''/'').replace(''//'', ''/'').replace(''//'', ''/'').replace(''//'',
    ''/'') .startsWith(a.endsWith(''/'') ? a : a + ''/'')))'
  messageExpression: '"kestra-guard: no-host-path: " + object.spec.?volumes.orValue([]).transformList(i,
    v, !(!has(v.hostPath) || variables.hostPathAllowList.exists(a, (''/'' + v.hostPath.path
    + ''/'').replace(''/./'', ''/'').replace(''/./'', ''/'').replace(''//'', ''/'').replace(''//'',
    ''/'').replace(''//'', ''/'').replace(''//'', ''/'').replace(''//'', ''/'') .startsWith(a.endsWith(''/'')
    ? a : a + ''/''))), "spec.volumes[" + string(i) + "].hostPath.path" + '''').join('',
    '') + ": host path volume is forbidden: use an emptyDir, a ConfigMap or a Secret
    instead"'
  reason: Forbidden
- expression: object.spec.?initContainers.orValue([]).all(c, !object.spec.?volumes.orValue([]).exists(v,
    has(v.hostPath)) || c.?volumeMounts.orValue([]).all(m, m.?readOnly.orValue(false)
    || !object.spec.?volumes.orValue([]).exists(v, v.name == m.name && has(v.hostPath))))
  messageExpression: '"kestra-guard: no-host-path: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(!object.spec.?volumes.orValue([]).exists(v, has(v.hostPath)) || c.?volumeMounts.orValue([]).all(m,
    m.?readOnly.orValue(false) || !object.spec.?volumes.orValue([]).exists(v, v.name
    == m.name && has(v.hostPath)))), "spec.initContainers[" + string(i) + "].volumeMounts"
    + '' (container '' + c.name + '')'').join('', '') + ": allowed host path is mounted
    writable: set readOnly: true"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, !object.spec.?volumes.orValue([]).exists(v,
    has(v.hostPath)) || c.?volumeMounts.orValue([]).all(m, m.?readOnly.orValue(false)
    || !object.spec.?volumes.orValue([]).exists(v, v.name == m.name && has(v.hostPath))))
  messageExpression: '"kestra-guard: no-host-path: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(!object.spec.?volumes.orValue([]).exists(v, has(v.hostPath)) || c.?volumeMounts.orValue([]).all(m,
    m.?readOnly.orValue(false) || !object.spec.?volumes.orValue([]).exists(v, v.name
    == m.name && has(v.hostPath)))), "spec.containers[" + string(i) + "].volumeMounts"
    + '' (container '' + c.name + '')'').join('', '') + ": allowed host path is mounted
    writable: set readOnly: true"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, !object.spec.?volumes.orValue([]).exists(v,
    has(v.hostPath)) || c.?volumeMounts.orValue([]).all(m, m.?readOnly.orValue(false)
    || !object.spec.?volumes.orValue([]).exists(v, v.name == m.name && has(v.hostPath))))
  messageExpression: '"kestra-guard: no-host-path: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(!object.spec.?volumes.orValue([]).exists(v, has(v.hostPath)) || c.?volumeMounts.orValue([]).all(m,
    m.?readOnly.orValue(false) || !object.spec.?volumes.orValue([]).exists(v, v.name
    == m.name && has(v.hostPath)))), "spec.ephemeralContainers[" + string(i) + "].volumeMounts"
    + '' (container '' + c.name + '')'').join('', '') + ": allowed host path is mounted
    writable: set readOnly: true"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-host-network" "deny")) $class }}
- expression: object.spec.?hostNetwork.orValue(false) == false
  message: 'kestra-guard: no-host-network: spec.hostNetwork: host network is forbidden:
    hostNetwork=true shares the node''s network and escapes NetworkPolicy, so the
    metadata service is reachable; remove hostNetwork'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "start-gate" "deny")) $class }}
- expression: '!variables.gateEnabled || (object.spec.?initContainers.orValue([]).size()
    > 0 && (object.spec.initContainers[0].name == variables.gateName && object.spec.initContainers[0].?image.orValue('''')
    == variables.gateImage && object.spec.initContainers[0].?imagePullPolicy.orValue('''')
    == variables.gatePullPolicy && object.spec.initContainers[0].?command.orValue([])
    == [''/kestra-guard''] && object.spec.initContainers[0].?args.orValue([]) == variables.gateArgs
    && !has(object.spec.initContainers[0].restartPolicy) && !has(object.spec.initContainers[0].volumeMounts)
    && !has(object.spec.initContainers[0].volumeDevices) && !has(object.spec.initContainers[0].env)
    && !has(object.spec.initContainers[0].envFrom) && !has(object.spec.initContainers[0].workingDir)
    && !has(object.spec.initContainers[0].livenessProbe) && !has(object.spec.initContainers[0].readinessProbe)
    && !has(object.spec.initContainers[0].startupProbe) && !has(object.spec.initContainers[0].lifecycle)))'
  message: 'kestra-guard: start-gate: spec.initContainers[0]: the start gate is not
    the first init container: mutation puts it first; keep kestra-guard''s mutation
    in front of the Pod, so that no container runs before metadata egress is blocked'
  reason: Forbidden
- expression: '!variables.gateEnabled || object.spec.?ephemeralContainers.orValue([]).size()
    == 0 || object.status.?initContainerStatuses.orValue([]).exists(s, s.name == variables.gateName
    && s.?state.?terminated.?exitCode.orValue(1) == 0)'
  message: 'kestra-guard: start-gate: spec.ephemeralContainers[0]: an ephemeral container
    before the start gate passed: add it once the gate has ended with exit code 0'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-host-namespaces" "deny")) $class }}
- expression: object.spec.?hostPID.orValue(false) == false
  message: 'kestra-guard: no-host-namespaces: spec.hostPID: host PID namespace is
    forbidden: hostPID=true lets the Pod see and signal every process on the node;
    remove hostPID'
  reason: Forbidden
- expression: object.spec.?hostIPC.orValue(false) == false
  message: 'kestra-guard: no-host-namespaces: spec.hostIPC: host IPC namespace is
    forbidden: hostIPC=true shares the node''s shared memory; remove hostIPC'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-privileged" "deny")) $class }}
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?privileged.orValue(false)
    == false)
  messageExpression: '"kestra-guard: no-privileged: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?privileged.orValue(false) == false), "spec.initContainers["
    + string(i) + "].securityContext.privileged" + '' (container '' + c.name + '')'').join('',
    '') + ": privileged container is forbidden: privileged=true gives it the node;
    remove it"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?privileged.orValue(false)
    == false)
  messageExpression: '"kestra-guard: no-privileged: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?privileged.orValue(false) == false), "spec.containers["
    + string(i) + "].securityContext.privileged" + '' (container '' + c.name + '')'').join('',
    '') + ": privileged container is forbidden: privileged=true gives it the node;
    remove it"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?privileged.orValue(false)
    == false)
  messageExpression: '"kestra-guard: no-privileged: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?privileged.orValue(false) == false), "spec.ephemeralContainers["
    + string(i) + "].securityContext.privileged" + '' (container '' + c.name + '')'').join('',
    '') + ": privileged container is forbidden: privileged=true gives it the node;
    remove it"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-privilege-escalation" "deny")) $class }}
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?allowPrivilegeEscalation.orValue(true)
    == false)
  messageExpression: '"kestra-guard: no-privilege-escalation: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?allowPrivilegeEscalation.orValue(true) == false), "spec.initContainers["
    + string(i) + "].securityContext.allowPrivilegeEscalation" + '' (container ''
    + c.name + '')'').join('', '') + ": privilege escalation is allowed: set allowPrivilegeEscalation
    to false"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?allowPrivilegeEscalation.orValue(true)
    == false)
  messageExpression: '"kestra-guard: no-privilege-escalation: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?allowPrivilegeEscalation.orValue(true) == false), "spec.containers["
    + string(i) + "].securityContext.allowPrivilegeEscalation" + '' (container ''
    + c.name + '')'').join('', '') + ": privilege escalation is allowed: set allowPrivilegeEscalation
    to false"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?allowPrivilegeEscalation.orValue(true)
    == false)
  messageExpression: '"kestra-guard: no-privilege-escalation: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?allowPrivilegeEscalation.orValue(true) == false), "spec.ephemeralContainers["
    + string(i) + "].securityContext.allowPrivilegeEscalation" + '' (container ''
    + c.name + '')'').join('', '') + ": privilege escalation is allowed: set allowPrivilegeEscalation
    to false"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "drop-all-capabilities" "deny")) $class }}
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?capabilities.?add.orValue([]).all(a,
    a == 'NET_BIND_SERVICE'))
  messageExpression: '"kestra-guard: drop-all-capabilities: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?capabilities.?add.orValue([]).all(a, a == ''NET_BIND_SERVICE'')),
    "spec.initContainers[" + string(i) + "].securityContext.capabilities.add" + ''
    (container '' + c.name + '')'').join('', '') + ": capabilities are not dropped:
    only NET_BIND_SERVICE may be added"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?capabilities.?add.orValue([]).all(a,
    a == 'NET_BIND_SERVICE'))
  messageExpression: '"kestra-guard: drop-all-capabilities: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?capabilities.?add.orValue([]).all(a, a == ''NET_BIND_SERVICE'')),
    "spec.containers[" + string(i) + "].securityContext.capabilities.add" + '' (container
    '' + c.name + '')'').join('', '') + ": capabilities are not dropped: only NET_BIND_SERVICE
    may be added"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?capabilities.?add.orValue([]).all(a,
    a == 'NET_BIND_SERVICE'))
  messageExpression: '"kestra-guard: drop-all-capabilities: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?capabilities.?add.orValue([]).all(a, a == ''NET_BIND_SERVICE'')),
    "spec.ephemeralContainers[" + string(i) + "].securityContext.capabilities.add"
    + '' (container '' + c.name + '')'').join('', '') + ": capabilities are not dropped:
    only NET_BIND_SERVICE may be added"'
  reason: Forbidden
- expression: object.spec.?initContainers.orValue([]).all(c, 'ALL' in c.?securityContext.?capabilities.?drop.orValue([]))
  messageExpression: '"kestra-guard: drop-all-capabilities: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(''ALL'' in c.?securityContext.?capabilities.?drop.orValue([])), "spec.initContainers["
    + string(i) + "].securityContext.capabilities.drop" + '' (container '' + c.name
    + '')'').join('', '') + ": capabilities are not dropped: set capabilities.drop:
    [ALL]"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, 'ALL' in c.?securityContext.?capabilities.?drop.orValue([]))
  messageExpression: '"kestra-guard: drop-all-capabilities: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(''ALL'' in c.?securityContext.?capabilities.?drop.orValue([])), "spec.containers["
    + string(i) + "].securityContext.capabilities.drop" + '' (container '' + c.name
    + '')'').join('', '') + ": capabilities are not dropped: set capabilities.drop:
    [ALL]"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, 'ALL' in c.?securityContext.?capabilities.?drop.orValue([]))
  messageExpression: '"kestra-guard: drop-all-capabilities: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(''ALL'' in c.?securityContext.?capabilities.?drop.orValue([])), "spec.ephemeralContainers["
    + string(i) + "].securityContext.capabilities.drop" + '' (container '' + c.name
    + '')'').join('', '') + ": capabilities are not dropped: set capabilities.drop:
    [ALL]"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "seccomp-profile" "deny")) $class }}
- expression: object.spec.?securityContext.?seccompProfile.?type.orValue('RuntimeDefault')
    in ['RuntimeDefault', 'Localhost']
  message: 'kestra-guard: seccomp-profile: spec.securityContext.seccompProfile.type:
    no seccomp profile: the Pod sets a profile other than RuntimeDefault or Localhost;
    use RuntimeDefault'
  reason: Forbidden
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?seccompProfile.?type.orValue(object.spec.?securityContext.?seccompProfile.?type.orValue(''))
    in ['RuntimeDefault', 'Localhost'])
  messageExpression: '"kestra-guard: seccomp-profile: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?seccompProfile.?type.orValue(object.spec.?securityContext.?seccompProfile.?type.orValue(''''))
    in [''RuntimeDefault'', ''Localhost'']), "spec.initContainers[" + string(i) +
    "].securityContext.seccompProfile.type" + '' (container '' + c.name + '')'').join('',
    '') + ": no seccomp profile: the container has no RuntimeDefault or Localhost
    profile; set spec.securityContext.seccompProfile.type: RuntimeDefault"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?seccompProfile.?type.orValue(object.spec.?securityContext.?seccompProfile.?type.orValue(''))
    in ['RuntimeDefault', 'Localhost'])
  messageExpression: '"kestra-guard: seccomp-profile: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?seccompProfile.?type.orValue(object.spec.?securityContext.?seccompProfile.?type.orValue(''''))
    in [''RuntimeDefault'', ''Localhost'']), "spec.containers[" + string(i) + "].securityContext.seccompProfile.type"
    + '' (container '' + c.name + '')'').join('', '') + ": no seccomp profile: the
    container has no RuntimeDefault or Localhost profile; set spec.securityContext.seccompProfile.type:
    RuntimeDefault"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?seccompProfile.?type.orValue(object.spec.?securityContext.?seccompProfile.?type.orValue(''))
    in ['RuntimeDefault', 'Localhost'])
  messageExpression: '"kestra-guard: seccomp-profile: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?seccompProfile.?type.orValue(object.spec.?securityContext.?seccompProfile.?type.orValue(''''))
    in [''RuntimeDefault'', ''Localhost'']), "spec.ephemeralContainers[" + string(i)
    + "].securityContext.seccompProfile.type" + '' (container '' + c.name + '')'').join('',
    '') + ": no seccomp profile: the container has no RuntimeDefault or Localhost
    profile; set spec.securityContext.seccompProfile.type: RuntimeDefault"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-host-ports" "deny")) $class }}
- expression: object.spec.?initContainers.orValue([]).all(c, c.?ports.orValue([]).all(p,
    p.?hostPort.orValue(0) == 0))
  messageExpression: '"kestra-guard: no-host-ports: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?ports.orValue([]).all(p, p.?hostPort.orValue(0) == 0)), "spec.initContainers["
    + string(i) + "].ports" + '' (container '' + c.name + '')'').join('', '') + ":
    host port is forbidden: the container binds a hostPort on the node; remove hostPort"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?ports.orValue([]).all(p,
    p.?hostPort.orValue(0) == 0))
  messageExpression: '"kestra-guard: no-host-ports: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?ports.orValue([]).all(p, p.?hostPort.orValue(0) == 0)), "spec.containers["
    + string(i) + "].ports" + '' (container '' + c.name + '')'').join('', '') + ":
    host port is forbidden: the container binds a hostPort on the node; remove hostPort"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?ports.orValue([]).all(p,
    p.?hostPort.orValue(0) == 0))
  messageExpression: '"kestra-guard: no-host-ports: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?ports.orValue([]).all(p, p.?hostPort.orValue(0) == 0)), "spec.ephemeralContainers["
    + string(i) + "].ports" + '' (container '' + c.name + '')'').join('', '') + ":
    host port is forbidden: the container binds a hostPort on the node; remove hostPort"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-host-probes" "deny")) $class }}
- expression: object.spec.?initContainers.orValue([]).all(c, !has(c.livenessProbe)
    && !has(c.readinessProbe) && !has(c.startupProbe) && !has(c.lifecycle) || [c.?livenessProbe.?httpGet.?host,
    c.?livenessProbe.?tcpSocket.?host, c.?readinessProbe.?httpGet.?host, c.?readinessProbe.?tcpSocket.?host,
    c.?startupProbe.?httpGet.?host, c.?startupProbe.?tcpSocket.?host, c.?lifecycle.?postStart.?httpGet.?host,
    c.?lifecycle.?postStart.?tcpSocket.?host, c.?lifecycle.?preStop.?httpGet.?host,
    c.?lifecycle.?preStop.?tcpSocket.?host].all(h, h.orValue('') == ''))
  messageExpression: '"kestra-guard: no-host-probes: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(!has(c.livenessProbe) && !has(c.readinessProbe) && !has(c.startupProbe) &&
    !has(c.lifecycle) || [c.?livenessProbe.?httpGet.?host, c.?livenessProbe.?tcpSocket.?host,
    c.?readinessProbe.?httpGet.?host, c.?readinessProbe.?tcpSocket.?host, c.?startupProbe.?httpGet.?host,
    c.?startupProbe.?tcpSocket.?host, c.?lifecycle.?postStart.?httpGet.?host, c.?lifecycle.?postStart.?tcpSocket.?host,
    c.?lifecycle.?preStop.?httpGet.?host, c.?lifecycle.?preStop.?tcpSocket.?host].all(h,
    h.orValue('''') == '''')), "spec.initContainers[" + string(i) + "].{livenessProbe,readinessProbe,startupProbe,lifecycle}.host"
    + '' (container '' + c.name + '')'').join('', '') + ": probe or lifecycle host
    is forbidden: the kubelet connects there from the node''s network, outside every
    NetworkPolicy; remove host so the Pod''s own IP is used"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, !has(c.livenessProbe) &&
    !has(c.readinessProbe) && !has(c.startupProbe) && !has(c.lifecycle) || [c.?livenessProbe.?httpGet.?host,
    c.?livenessProbe.?tcpSocket.?host, c.?readinessProbe.?httpGet.?host, c.?readinessProbe.?tcpSocket.?host,
    c.?startupProbe.?httpGet.?host, c.?startupProbe.?tcpSocket.?host, c.?lifecycle.?postStart.?httpGet.?host,
    c.?lifecycle.?postStart.?tcpSocket.?host, c.?lifecycle.?preStop.?httpGet.?host,
    c.?lifecycle.?preStop.?tcpSocket.?host].all(h, h.orValue('') == ''))
  messageExpression: '"kestra-guard: no-host-probes: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(!has(c.livenessProbe) && !has(c.readinessProbe) && !has(c.startupProbe) &&
    !has(c.lifecycle) || [c.?livenessProbe.?httpGet.?host, c.?livenessProbe.?tcpSocket.?host,
    c.?readinessProbe.?httpGet.?host, c.?readinessProbe.?tcpSocket.?host, c.?startupProbe.?httpGet.?host,
    c.?startupProbe.?tcpSocket.?host, c.?lifecycle.?postStart.?httpGet.?host, c.?lifecycle.?postStart.?tcpSocket.?host,
    c.?lifecycle.?preStop.?httpGet.?host, c.?lifecycle.?preStop.?tcpSocket.?host].all(h,
    h.orValue('''') == '''')), "spec.containers[" + string(i) + "].{livenessProbe,readinessProbe,startupProbe,lifecycle}.host"
    + '' (container '' + c.name + '')'').join('', '') + ": probe or lifecycle host
    is forbidden: the kubelet connects there from the node''s network, outside every
    NetworkPolicy; remove host so the Pod''s own IP is used"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, !has(c.livenessProbe)
    && !has(c.readinessProbe) && !has(c.startupProbe) && !has(c.lifecycle) || [c.?livenessProbe.?httpGet.?host,
    c.?livenessProbe.?tcpSocket.?host, c.?readinessProbe.?httpGet.?host, c.?readinessProbe.?tcpSocket.?host,
    c.?startupProbe.?httpGet.?host, c.?startupProbe.?tcpSocket.?host, c.?lifecycle.?postStart.?httpGet.?host,
    c.?lifecycle.?postStart.?tcpSocket.?host, c.?lifecycle.?preStop.?httpGet.?host,
    c.?lifecycle.?preStop.?tcpSocket.?host].all(h, h.orValue('') == ''))
  messageExpression: '"kestra-guard: no-host-probes: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(!has(c.livenessProbe) && !has(c.readinessProbe) && !has(c.startupProbe) &&
    !has(c.lifecycle) || [c.?livenessProbe.?httpGet.?host, c.?livenessProbe.?tcpSocket.?host,
    c.?readinessProbe.?httpGet.?host, c.?readinessProbe.?tcpSocket.?host, c.?startupProbe.?httpGet.?host,
    c.?startupProbe.?tcpSocket.?host, c.?lifecycle.?postStart.?httpGet.?host, c.?lifecycle.?postStart.?tcpSocket.?host,
    c.?lifecycle.?preStop.?httpGet.?host, c.?lifecycle.?preStop.?tcpSocket.?host].all(h,
    h.orValue('''') == '''')), "spec.ephemeralContainers[" + string(i) + "].{livenessProbe,readinessProbe,startupProbe,lifecycle}.host"
    + '' (container '' + c.name + '')'').join('', '') + ": probe or lifecycle host
    is forbidden: the kubelet connects there from the node''s network, outside every
    NetworkPolicy; remove host so the Pod''s own IP is used"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-unsafe-selinux" "deny")) $class }}
- expression: object.spec.?securityContext.?seLinuxOptions.?type.orValue('') in ['',
    'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'] &&
    object.spec.?securityContext.?seLinuxOptions.?user.orValue('') == '' && object.spec.?securityContext.?seLinuxOptions.?role.orValue('')
    == ''
  message: 'kestra-guard: no-unsafe-selinux: spec.securityContext.seLinuxOptions:
    unsafe SELinux options: remove type, user and role, or use type container_t'
  reason: Forbidden
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?seLinuxOptions.?type.orValue('')
    in ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']
    && c.?securityContext.?seLinuxOptions.?user.orValue('') == '' && c.?securityContext.?seLinuxOptions.?role.orValue('')
    == '')
  messageExpression: '"kestra-guard: no-unsafe-selinux: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?seLinuxOptions.?type.orValue('''') in ['''', ''container_t'',
    ''container_init_t'', ''container_kvm_t'', ''container_engine_t''] && c.?securityContext.?seLinuxOptions.?user.orValue('''')
    == '''' && c.?securityContext.?seLinuxOptions.?role.orValue('''') == ''''), "spec.initContainers["
    + string(i) + "].securityContext.seLinuxOptions" + '' (container '' + c.name +
    '')'').join('', '') + ": unsafe SELinux options: remove type, user and role, or
    use type container_t"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?seLinuxOptions.?type.orValue('')
    in ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']
    && c.?securityContext.?seLinuxOptions.?user.orValue('') == '' && c.?securityContext.?seLinuxOptions.?role.orValue('')
    == '')
  messageExpression: '"kestra-guard: no-unsafe-selinux: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?seLinuxOptions.?type.orValue('''') in ['''', ''container_t'',
    ''container_init_t'', ''container_kvm_t'', ''container_engine_t''] && c.?securityContext.?seLinuxOptions.?user.orValue('''')
    == '''' && c.?securityContext.?seLinuxOptions.?role.orValue('''') == ''''), "spec.containers["
    + string(i) + "].securityContext.seLinuxOptions" + '' (container '' + c.name +
    '')'').join('', '') + ": unsafe SELinux options: remove type, user and role, or
    use type container_t"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?seLinuxOptions.?type.orValue('')
    in ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']
    && c.?securityContext.?seLinuxOptions.?user.orValue('') == '' && c.?securityContext.?seLinuxOptions.?role.orValue('')
    == '')
  messageExpression: '"kestra-guard: no-unsafe-selinux: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?seLinuxOptions.?type.orValue('''') in ['''', ''container_t'',
    ''container_init_t'', ''container_kvm_t'', ''container_engine_t''] && c.?securityContext.?seLinuxOptions.?user.orValue('''')
    == '''' && c.?securityContext.?seLinuxOptions.?role.orValue('''') == ''''), "spec.ephemeralContainers["
    + string(i) + "].securityContext.seLinuxOptions" + '' (container '' + c.name +
    '')'').join('', '') + ": unsafe SELinux options: remove type, user and role, or
    use type container_t"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-unmasked-proc" "deny")) $class }}
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?procMount.orValue('Default')
    == 'Default')
  messageExpression: '"kestra-guard: no-unmasked-proc: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?procMount.orValue(''Default'') == ''Default''), "spec.initContainers["
    + string(i) + "].securityContext.procMount" + '' (container '' + c.name + '')'').join('',
    '') + ": unmasked /proc is forbidden: remove procMount"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?procMount.orValue('Default')
    == 'Default')
  messageExpression: '"kestra-guard: no-unmasked-proc: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?procMount.orValue(''Default'') == ''Default''), "spec.containers["
    + string(i) + "].securityContext.procMount" + '' (container '' + c.name + '')'').join('',
    '') + ": unmasked /proc is forbidden: remove procMount"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?procMount.orValue('Default')
    == 'Default')
  messageExpression: '"kestra-guard: no-unmasked-proc: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?procMount.orValue(''Default'') == ''Default''), "spec.ephemeralContainers["
    + string(i) + "].securityContext.procMount" + '' (container '' + c.name + '')'').join('',
    '') + ": unmasked /proc is forbidden: remove procMount"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-unsafe-sysctls" "deny")) $class }}
- expression: object.spec.?securityContext.?sysctls.orValue([]).all(v, v.name in ["kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat"])
  messageExpression: '"kestra-guard: no-unsafe-sysctls: " + object.spec.?securityContext.?sysctls.orValue([]).transformList(i,
    v, !(v.name in ["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat"]), "spec.securityContext.sysctls[" + string(i) +
    "].name" + '''').join('', '') + ": unsafe sysctl: the Pod sets a sysctl outside
    the safe set; remove it"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-unconfined-apparmor" "deny")) $class }}
- expression: object.spec.?securityContext.?appArmorProfile.?type.orValue('RuntimeDefault')
    in ['RuntimeDefault', 'Localhost']
  message: 'kestra-guard: no-unconfined-apparmor: spec.securityContext.appArmorProfile.type:
    AppArmor is not confining: remove the profile or use RuntimeDefault'
  reason: Forbidden
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?appArmorProfile.?type.orValue('RuntimeDefault')
    in ['RuntimeDefault', 'Localhost'])
  messageExpression: '"kestra-guard: no-unconfined-apparmor: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?appArmorProfile.?type.orValue(''RuntimeDefault'') in
    [''RuntimeDefault'', ''Localhost'']), "spec.initContainers[" + string(i) + "].securityContext.appArmorProfile.type"
    + '' (container '' + c.name + '')'').join('', '') + ": AppArmor is not confining:
    remove the profile or use RuntimeDefault"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?appArmorProfile.?type.orValue('RuntimeDefault')
    in ['RuntimeDefault', 'Localhost'])
  messageExpression: '"kestra-guard: no-unconfined-apparmor: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?appArmorProfile.?type.orValue(''RuntimeDefault'') in
    [''RuntimeDefault'', ''Localhost'']), "spec.containers[" + string(i) + "].securityContext.appArmorProfile.type"
    + '' (container '' + c.name + '')'').join('', '') + ": AppArmor is not confining:
    remove the profile or use RuntimeDefault"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?appArmorProfile.?type.orValue('RuntimeDefault')
    in ['RuntimeDefault', 'Localhost'])
  messageExpression: '"kestra-guard: no-unconfined-apparmor: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?appArmorProfile.?type.orValue(''RuntimeDefault'') in
    [''RuntimeDefault'', ''Localhost'']), "spec.ephemeralContainers[" + string(i)
    + "].securityContext.appArmorProfile.type" + '' (container '' + c.name + '')'').join('',
    '') + ": AppArmor is not confining: remove the profile or use RuntimeDefault"'
  reason: Forbidden
- expression: object.metadata.?annotations.orValue({}).all(k, !k.startsWith('container.apparmor.security.beta.kubernetes.io/')
    || object.metadata.annotations[k] == '' || object.metadata.annotations[k] == 'runtime/default'
    || object.metadata.annotations[k].startsWith('localhost/'))
  message: 'kestra-guard: no-unconfined-apparmor: metadata.annotations[container.apparmor.security.beta.kubernetes.io/*]:
    AppArmor is not confining: an annotation sets a profile that is not runtime/default
    or localhost/<profile>; remove the annotation'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-host-process" "deny")) $class }}
- expression: object.spec.?securityContext.?windowsOptions.?hostProcess.orValue(false)
    == false
  message: 'kestra-guard: no-host-process: spec.securityContext.windowsOptions.hostProcess:
    Windows HostProcess container is forbidden: the Pod sets windowsOptions.hostProcess=true,
    which runs every container on the node; remove it'
  reason: Forbidden
- expression: object.spec.?initContainers.orValue([]).all(c, c.?securityContext.?windowsOptions.?hostProcess.orValue(false)
    == false)
  messageExpression: '"kestra-guard: no-host-process: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?windowsOptions.?hostProcess.orValue(false) == false),
    "spec.initContainers[" + string(i) + "].securityContext.windowsOptions.hostProcess"
    + '' (container '' + c.name + '')'').join('', '') + ": Windows HostProcess container
    is forbidden: windowsOptions.hostProcess=true runs it on the node; remove it"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?securityContext.?windowsOptions.?hostProcess.orValue(false)
    == false)
  messageExpression: '"kestra-guard: no-host-process: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?securityContext.?windowsOptions.?hostProcess.orValue(false) == false),
    "spec.containers[" + string(i) + "].securityContext.windowsOptions.hostProcess"
    + '' (container '' + c.name + '')'').join('', '') + ": Windows HostProcess container
    is forbidden: windowsOptions.hostProcess=true runs it on the node; remove it"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?securityContext.?windowsOptions.?hostProcess.orValue(false)
    == false)
  messageExpression: '"kestra-guard: no-host-process: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?securityContext.?windowsOptions.?hostProcess.orValue(false) == false),
    "spec.ephemeralContainers[" + string(i) + "].securityContext.windowsOptions.hostProcess"
    + '' (container '' + c.name + '')'').join('', '') + ": Windows HostProcess container
    is forbidden: windowsOptions.hostProcess=true runs it on the node; remove it"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "restricted-volume-types" "deny")) $class }}
- expression: object.spec.?volumes.orValue([]).all(v, has(v.hostPath) || has(v.configMap)
    || has(v.csi) || has(v.downwardAPI) || has(v.emptyDir) || has(v.ephemeral) ||
    has(v.image) || has(v.persistentVolumeClaim) || has(v.projected) || has(v.secret))
  messageExpression: '"kestra-guard: restricted-volume-types: " + object.spec.?volumes.orValue([]).transformList(i,
    v, !(has(v.hostPath) || has(v.configMap) || has(v.csi) || has(v.downwardAPI) ||
    has(v.emptyDir) || has(v.ephemeral) || has(v.image) || has(v.persistentVolumeClaim)
    || has(v.projected) || has(v.secret)), "spec.volumes[" + string(i) + "]" + '''').join('',
    '') + ": volume type is forbidden: Pod Security restricted forbids it; use a persistentVolumeClaim,
    csi, emptyDir, configMap or secret volume"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-service-account-token" "warn")) $class }}
- expression: object.spec.?automountServiceAccountToken.orValue(true) == false
  message: 'kestra-guard: no-service-account-token: spec.automountServiceAccountToken:
    service account token may be mounted: automountServiceAccountToken is not false;
    set it to false unless the task calls the API'
  reason: Forbidden
- expression: object.spec.?volumes.orValue([]).all(v, !has(v.projected) || !v.projected.?sources.orValue([]).exists(s,
    has(s.serviceAccountToken) && (s.serviceAccountToken.?audience.orValue('') ==
    '' || s.serviceAccountToken.audience in variables.apiAudiences)) || !(object.spec.?initContainers.orValue([]).exists(c,
    c.?volumeMounts.orValue([]).exists(m, m.name == v.name)) || object.spec.?containers.orValue([]).exists(c,
    c.?volumeMounts.orValue([]).exists(m, m.name == v.name)) || object.spec.?ephemeralContainers.orValue([]).exists(c,
    c.?volumeMounts.orValue([]).exists(m, m.name == v.name))))
  messageExpression: '"kestra-guard: no-service-account-token: " + object.spec.?volumes.orValue([]).transformList(i,
    v, !(!has(v.projected) || !v.projected.?sources.orValue([]).exists(s, has(s.serviceAccountToken)
    && (s.serviceAccountToken.?audience.orValue('''') == '''' || s.serviceAccountToken.audience
    in variables.apiAudiences)) || !(object.spec.?initContainers.orValue([]).exists(c,
    c.?volumeMounts.orValue([]).exists(m, m.name == v.name)) || object.spec.?containers.orValue([]).exists(c,
    c.?volumeMounts.orValue([]).exists(m, m.name == v.name)) || object.spec.?ephemeralContainers.orValue([]).exists(c,
    c.?volumeMounts.orValue([]).exists(m, m.name == v.name)))), "spec.volumes[" +
    string(i) + "].projected.sources" + '''').join('', '') + ": service account token
    is mounted: the volume projects a Kubernetes API token that containers mount;
    remove the volume and its mounts"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-cloud-identity" "warn")) $class }}
- expression: object.spec.?initContainers.orValue([]).all(c, c.?env.orValue([]).all(e,
    !(e.name in ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AZURE_FEDERATED_TOKEN_FILE", "GCE_METADATA_HOST"])))
  messageExpression: '"kestra-guard: no-cloud-identity: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?env.orValue([]).all(e, !(e.name in ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AZURE_FEDERATED_TOKEN_FILE", "GCE_METADATA_HOST"]))),
    "spec.initContainers[" + string(i) + "].env" + '' (container '' + c.name + '')'').join('',
    '') + ": Pod is wired to a cloud identity: an env variable hands cloud credentials
    to task code; give the task its own narrowly scoped credentials as a Secret"'
  reason: Forbidden
- expression: object.spec.?containers.orValue([]).all(c, c.?env.orValue([]).all(e,
    !(e.name in ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AZURE_FEDERATED_TOKEN_FILE", "GCE_METADATA_HOST"])))
  messageExpression: '"kestra-guard: no-cloud-identity: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?env.orValue([]).all(e, !(e.name in ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AZURE_FEDERATED_TOKEN_FILE", "GCE_METADATA_HOST"]))),
    "spec.containers[" + string(i) + "].env" + '' (container '' + c.name + '')'').join('',
    '') + ": Pod is wired to a cloud identity: an env variable hands cloud credentials
    to task code; give the task its own narrowly scoped credentials as a Secret"'
  reason: Forbidden
- expression: object.spec.?ephemeralContainers.orValue([]).all(c, c.?env.orValue([]).all(e,
    !(e.name in ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AZURE_FEDERATED_TOKEN_FILE", "GCE_METADATA_HOST"])))
  messageExpression: '"kestra-guard: no-cloud-identity: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?env.orValue([]).all(e, !(e.name in ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AZURE_FEDERATED_TOKEN_FILE", "GCE_METADATA_HOST"]))),
    "spec.ephemeralContainers[" + string(i) + "].env" + '' (container '' + c.name
    + '')'').join('', '') + ": Pod is wired to a cloud identity: an env variable hands
    cloud credentials to task code; give the task its own narrowly scoped credentials
    as a Secret"'
  reason: Forbidden
- expression: object.spec.?volumes.orValue([]).all(v, !has(v.projected) || v.projected.?sources.orValue([]).all(s,
    !has(s.serviceAccountToken) || s.serviceAccountToken.?audience.orValue('') ==
    '' || s.serviceAccountToken.audience in variables.apiAudiences))
  messageExpression: '"kestra-guard: no-cloud-identity: " + object.spec.?volumes.orValue([]).transformList(i,
    v, !(!has(v.projected) || v.projected.?sources.orValue([]).all(s, !has(s.serviceAccountToken)
    || s.serviceAccountToken.?audience.orValue('''') == '''' || s.serviceAccountToken.audience
    in variables.apiAudiences)), "spec.volumes[" + string(i) + "].projected.sources"
    + '''').join('', '') + ": Pod is wired to a cloud identity: the volume projects
    a token for a non-Kubernetes audience, which a cloud exchanges for credentials;
    remove it"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "no-metadata-address" "deny")) $class }}
- expression: 'object.spec.?initContainers.orValue([]).all(c, (variables.gateEnabled
    && (c.name == variables.gateName && c.?image.orValue('''') == variables.gateImage
    && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy && c.?command.orValue([])
    == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs && !has(c.restartPolicy)
    && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env) && !has(c.envFrom)
    && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe) && !has(c.startupProbe)
    && !has(c.lifecycle))) || (c.?command.orValue([]) + c.?args.orValue([])).all(s,
    ![s].exists(str, str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a))))))))'
  messageExpression: '"kestra-guard: no-metadata-address: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !((variables.gateEnabled && (c.name == variables.gateName && c.?image.orValue('''')
    == variables.gateImage && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy
    && c.?command.orValue([]) == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs
    && !has(c.restartPolicy) && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env)
    && !has(c.envFrom) && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe)
    && !has(c.startupProbe) && !has(c.lifecycle))) || (c.?command.orValue([]) + c.?args.orValue([])).all(s,
    ![s].exists(str, str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a)))))))),
    "spec.initContainers[" + string(i) + "].{command,args}" + '' (container '' + c.name
    + '')'').join('', '') + ": metadata address in container spec: the command or
    args refer to the cloud metadata service; task code must not read node credentials"'
  reason: Forbidden
- expression: 'object.spec.?containers.orValue([]).all(c, (variables.gateEnabled &&
    (c.name == variables.gateName && c.?image.orValue('''') == variables.gateImage
    && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy && c.?command.orValue([])
    == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs && !has(c.restartPolicy)
    && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env) && !has(c.envFrom)
    && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe) && !has(c.startupProbe)
    && !has(c.lifecycle))) || (c.?command.orValue([]) + c.?args.orValue([])).all(s,
    ![s].exists(str, str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a))))))))'
  messageExpression: '"kestra-guard: no-metadata-address: " + object.spec.?containers.orValue([]).transformList(i,
    c, !((variables.gateEnabled && (c.name == variables.gateName && c.?image.orValue('''')
    == variables.gateImage && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy
    && c.?command.orValue([]) == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs
    && !has(c.restartPolicy) && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env)
    && !has(c.envFrom) && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe)
    && !has(c.startupProbe) && !has(c.lifecycle))) || (c.?command.orValue([]) + c.?args.orValue([])).all(s,
    ![s].exists(str, str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a)))))))),
    "spec.containers[" + string(i) + "].{command,args}" + '' (container '' + c.name
    + '')'').join('', '') + ": metadata address in container spec: the command or
    args refer to the cloud metadata service; task code must not read node credentials"'
  reason: Forbidden
- expression: 'object.spec.?ephemeralContainers.orValue([]).all(c, (variables.gateEnabled
    && (c.name == variables.gateName && c.?image.orValue('''') == variables.gateImage
    && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy && c.?command.orValue([])
    == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs && !has(c.restartPolicy)
    && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env) && !has(c.envFrom)
    && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe) && !has(c.startupProbe)
    && !has(c.lifecycle))) || (c.?command.orValue([]) + c.?args.orValue([])).all(s,
    ![s].exists(str, str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a))))))))'
  messageExpression: '"kestra-guard: no-metadata-address: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !((variables.gateEnabled && (c.name == variables.gateName && c.?image.orValue('''')
    == variables.gateImage && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy
    && c.?command.orValue([]) == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs
    && !has(c.restartPolicy) && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env)
    && !has(c.envFrom) && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe)
    && !has(c.startupProbe) && !has(c.lifecycle))) || (c.?command.orValue([]) + c.?args.orValue([])).all(s,
    ![s].exists(str, str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a)))))))),
    "spec.ephemeralContainers[" + string(i) + "].{command,args}" + '' (container ''
    + c.name + '')'').join('', '') + ": metadata address in container spec: the command
    or args refer to the cloud metadata service; task code must not read node credentials"'
  reason: Forbidden
- expression: 'object.spec.?initContainers.orValue([]).all(c, c.?env.orValue([]).all(e,
    ![e.?value.orValue('''')].exists(str, str.matches(variables.metadataHostnamePattern)
    || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a))))))))'
  messageExpression: '"kestra-guard: no-metadata-address: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !(c.?env.orValue([]).all(e, ![e.?value.orValue('''')].exists(str, str.matches(variables.metadataHostnamePattern)
    || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a)))))))),
    "spec.initContainers[" + string(i) + "].env" + '' (container '' + c.name + '')'').join('',
    '') + ": metadata address in container spec: an env value refers to the cloud
    metadata service; task code must not read node credentials"'
  reason: Forbidden
- expression: 'object.spec.?containers.orValue([]).all(c, c.?env.orValue([]).all(e,
    ![e.?value.orValue('''')].exists(str, str.matches(variables.metadataHostnamePattern)
    || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a))))))))'
  messageExpression: '"kestra-guard: no-metadata-address: " + object.spec.?containers.orValue([]).transformList(i,
    c, !(c.?env.orValue([]).all(e, ![e.?value.orValue('''')].exists(str, str.matches(variables.metadataHostnamePattern)
    || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a)))))))),
    "spec.containers[" + string(i) + "].env" + '' (container '' + c.name + '')'').join('',
    '') + ": metadata address in container spec: an env value refers to the cloud
    metadata service; task code must not read node credentials"'
  reason: Forbidden
- expression: 'object.spec.?ephemeralContainers.orValue([]).all(c, c.?env.orValue([]).all(e,
    ![e.?value.orValue('''')].exists(str, str.matches(variables.metadataHostnamePattern)
    || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a))))))))'
  messageExpression: '"kestra-guard: no-metadata-address: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !(c.?env.orValue([]).all(e, ![e.?value.orValue('''')].exists(str, str.matches(variables.metadataHostnamePattern)
    || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a)))))))),
    "spec.ephemeralContainers[" + string(i) + "].env" + '' (container '' + c.name
    + '')'').join('', '') + ": metadata address in container spec: an env value refers
    to the cloud metadata service; task code must not read node credentials"'
  reason: Forbidden
- expression: 'object.spec.?initContainers.orValue([]).all(c, [c.?livenessProbe.?exec.?command.orValue([]),
    c.?readinessProbe.?exec.?command.orValue([]), c.?startupProbe.?exec.?command.orValue([]),
    c.?lifecycle.?postStart.?exec.?command.orValue([]), c.?lifecycle.?preStop.?exec.?command.orValue([])].all(l,
    l.all(s, ![s].exists(str, str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a)))))))))'
  messageExpression: '"kestra-guard: no-metadata-address: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !([c.?livenessProbe.?exec.?command.orValue([]), c.?readinessProbe.?exec.?command.orValue([]),
    c.?startupProbe.?exec.?command.orValue([]), c.?lifecycle.?postStart.?exec.?command.orValue([]),
    c.?lifecycle.?preStop.?exec.?command.orValue([])].all(l, l.all(s, ![s].exists(str,
    str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a))))))))),
    "spec.initContainers[" + string(i) + "].{livenessProbe,readinessProbe,startupProbe,lifecycle}.exec.command"
    + '' (container '' + c.name + '')'').join('', '') + ": metadata address in container
    spec: an exec probe or hook refers to the cloud metadata service; task code must
    not read node credentials"'
  reason: Forbidden
- expression: 'object.spec.?containers.orValue([]).all(c, [c.?livenessProbe.?exec.?command.orValue([]),
    c.?readinessProbe.?exec.?command.orValue([]), c.?startupProbe.?exec.?command.orValue([]),
    c.?lifecycle.?postStart.?exec.?command.orValue([]), c.?lifecycle.?preStop.?exec.?command.orValue([])].all(l,
    l.all(s, ![s].exists(str, str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a)))))))))'
  messageExpression: '"kestra-guard: no-metadata-address: " + object.spec.?containers.orValue([]).transformList(i,
    c, !([c.?livenessProbe.?exec.?command.orValue([]), c.?readinessProbe.?exec.?command.orValue([]),
    c.?startupProbe.?exec.?command.orValue([]), c.?lifecycle.?postStart.?exec.?command.orValue([]),
    c.?lifecycle.?preStop.?exec.?command.orValue([])].all(l, l.all(s, ![s].exists(str,
    str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a))))))))),
    "spec.containers[" + string(i) + "].{livenessProbe,readinessProbe,startupProbe,lifecycle}.exec.command"
    + '' (container '' + c.name + '')'').join('', '') + ": metadata address in container
    spec: an exec probe or hook refers to the cloud metadata service; task code must
    not read node credentials"'
  reason: Forbidden
- expression: 'object.spec.?ephemeralContainers.orValue([]).all(c, [c.?livenessProbe.?exec.?command.orValue([]),
    c.?readinessProbe.?exec.?command.orValue([]), c.?startupProbe.?exec.?command.orValue([]),
    c.?lifecycle.?postStart.?exec.?command.orValue([]), c.?lifecycle.?preStop.?exec.?command.orValue([])].all(l,
    l.all(s, ![s].exists(str, str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a)))))))))'
  messageExpression: '"kestra-guard: no-metadata-address: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !([c.?livenessProbe.?exec.?command.orValue([]), c.?readinessProbe.?exec.?command.orValue([]),
    c.?startupProbe.?exec.?command.orValue([]), c.?lifecycle.?postStart.?exec.?command.orValue([]),
    c.?lifecycle.?preStop.?exec.?command.orValue([])].all(l, l.all(s, ![s].exists(str,
    str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a))))))))),
    "spec.ephemeralContainers[" + string(i) + "].{livenessProbe,readinessProbe,startupProbe,lifecycle}.exec.command"
    + '' (container '' + c.name + '')'').join('', '') + ": metadata address in container
    spec: an exec probe or hook refers to the cloud metadata service; task code must
    not read node credentials"'
  reason: Forbidden
- expression: 'object.spec.?hostAliases.orValue([]).all(v, ![v.?ip.orValue('''')].exists(str,
    str.matches(variables.metadataHostnamePattern) || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a)))))))'
  messageExpression: '"kestra-guard: no-metadata-address: " + object.spec.?hostAliases.orValue([]).transformList(i,
    v, !(![v.?ip.orValue('''')].exists(str, str.matches(variables.metadataHostnamePattern)
    || str.findAll(''[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*'').exists(t,
    [t.find(''^.*[^.:]'')].exists(tr, ([t, tr, t.replace(''['', '''').split('']'')[0]]
    + (tr.split('':'').size() == 2 ? tr.split('':'') : [])) .exists(a, isIP(a) &&
    variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a))))))),
    "spec.hostAliases[" + string(i) + "].ip" + '''').join('', '') + ": metadata address
    in host aliases: a host alias of the Pod refers to the cloud metadata service;
    task code must not read node credentials"'
  reason: Forbidden
{{- end }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "allowed-registries" "off")) $class }}
- expression: 'object.spec.?initContainers.orValue([]).all(c, (variables.gateEnabled
    && (c.name == variables.gateName && c.?image.orValue('''') == variables.gateImage
    && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy && c.?command.orValue([])
    == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs && !has(c.restartPolicy)
    && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env) && !has(c.envFrom)
    && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe) && !has(c.startupProbe)
    && !has(c.lifecycle))) || variables.allowedRegistries.exists(p, (!(c.?image.orValue('''')).contains(''/'')
    ? ''docker.io/library/'' + (c.?image.orValue('''')) : ((c.?image.orValue('''')).split(''/'')[0].contains(''.'')
    || (c.?image.orValue('''')).split(''/'')[0].contains('':'') || (c.?image.orValue('''')).split(''/'')[0]
    == ''localhost'') ? ((c.?image.orValue('''')).split(''/'')[0] == ''docker.io''
    && (c.?image.orValue('''')).split(''/'').size() == 2 ? ''docker.io/library/''
    + (c.?image.orValue('''')).substring(10) : (c.?image.orValue(''''))) : ''docker.io/''
    + (c.?image.orValue(''''))).startsWith((p.endsWith(''/'') ? p.substring(0, p.size()
    - 1) : p) + ''/'')))'
  messageExpression: '"kestra-guard: allowed-registries: " + object.spec.?initContainers.orValue([]).transformList(i,
    c, !((variables.gateEnabled && (c.name == variables.gateName && c.?image.orValue('''')
    == variables.gateImage && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy
    && c.?command.orValue([]) == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs
    && !has(c.restartPolicy) && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env)
    && !has(c.envFrom) && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe)
    && !has(c.startupProbe) && !has(c.lifecycle))) || variables.allowedRegistries.exists(p,
    (!(c.?image.orValue('''')).contains(''/'') ? ''docker.io/library/'' + (c.?image.orValue(''''))
    : ((c.?image.orValue('''')).split(''/'')[0].contains(''.'') || (c.?image.orValue('''')).split(''/'')[0].contains('':'')
    || (c.?image.orValue('''')).split(''/'')[0] == ''localhost'') ? ((c.?image.orValue('''')).split(''/'')[0]
    == ''docker.io'' && (c.?image.orValue('''')).split(''/'').size() == 2 ? ''docker.io/library/''
    + (c.?image.orValue('''')).substring(10) : (c.?image.orValue(''''))) : ''docker.io/''
    + (c.?image.orValue(''''))).startsWith((p.endsWith(''/'') ? p.substring(0, p.size()
    - 1) : p) + ''/''))), "spec.initContainers[" + string(i) + "].image" + '' (container
    '' + c.name + '')'').join('', '') + ": image registry is not allowed: use an image
    from policy.allowedRegistries"'
  reason: Forbidden
- expression: 'object.spec.?containers.orValue([]).all(c, (variables.gateEnabled &&
    (c.name == variables.gateName && c.?image.orValue('''') == variables.gateImage
    && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy && c.?command.orValue([])
    == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs && !has(c.restartPolicy)
    && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env) && !has(c.envFrom)
    && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe) && !has(c.startupProbe)
    && !has(c.lifecycle))) || variables.allowedRegistries.exists(p, (!(c.?image.orValue('''')).contains(''/'')
    ? ''docker.io/library/'' + (c.?image.orValue('''')) : ((c.?image.orValue('''')).split(''/'')[0].contains(''.'')
    || (c.?image.orValue('''')).split(''/'')[0].contains('':'') || (c.?image.orValue('''')).split(''/'')[0]
    == ''localhost'') ? ((c.?image.orValue('''')).split(''/'')[0] == ''docker.io''
    && (c.?image.orValue('''')).split(''/'').size() == 2 ? ''docker.io/library/''
    + (c.?image.orValue('''')).substring(10) : (c.?image.orValue(''''))) : ''docker.io/''
    + (c.?image.orValue(''''))).startsWith((p.endsWith(''/'') ? p.substring(0, p.size()
    - 1) : p) + ''/'')))'
  messageExpression: '"kestra-guard: allowed-registries: " + object.spec.?containers.orValue([]).transformList(i,
    c, !((variables.gateEnabled && (c.name == variables.gateName && c.?image.orValue('''')
    == variables.gateImage && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy
    && c.?command.orValue([]) == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs
    && !has(c.restartPolicy) && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env)
    && !has(c.envFrom) && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe)
    && !has(c.startupProbe) && !has(c.lifecycle))) || variables.allowedRegistries.exists(p,
    (!(c.?image.orValue('''')).contains(''/'') ? ''docker.io/library/'' + (c.?image.orValue(''''))
    : ((c.?image.orValue('''')).split(''/'')[0].contains(''.'') || (c.?image.orValue('''')).split(''/'')[0].contains('':'')
    || (c.?image.orValue('''')).split(''/'')[0] == ''localhost'') ? ((c.?image.orValue('''')).split(''/'')[0]
    == ''docker.io'' && (c.?image.orValue('''')).split(''/'').size() == 2 ? ''docker.io/library/''
    + (c.?image.orValue('''')).substring(10) : (c.?image.orValue(''''))) : ''docker.io/''
    + (c.?image.orValue(''''))).startsWith((p.endsWith(''/'') ? p.substring(0, p.size()
    - 1) : p) + ''/''))), "spec.containers[" + string(i) + "].image" + '' (container
    '' + c.name + '')'').join('', '') + ": image registry is not allowed: use an image
    from policy.allowedRegistries"'
  reason: Forbidden
- expression: 'object.spec.?ephemeralContainers.orValue([]).all(c, (variables.gateEnabled
    && (c.name == variables.gateName && c.?image.orValue('''') == variables.gateImage
    && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy && c.?command.orValue([])
    == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs && !has(c.restartPolicy)
    && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env) && !has(c.envFrom)
    && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe) && !has(c.startupProbe)
    && !has(c.lifecycle))) || variables.allowedRegistries.exists(p, (!(c.?image.orValue('''')).contains(''/'')
    ? ''docker.io/library/'' + (c.?image.orValue('''')) : ((c.?image.orValue('''')).split(''/'')[0].contains(''.'')
    || (c.?image.orValue('''')).split(''/'')[0].contains('':'') || (c.?image.orValue('''')).split(''/'')[0]
    == ''localhost'') ? ((c.?image.orValue('''')).split(''/'')[0] == ''docker.io''
    && (c.?image.orValue('''')).split(''/'').size() == 2 ? ''docker.io/library/''
    + (c.?image.orValue('''')).substring(10) : (c.?image.orValue(''''))) : ''docker.io/''
    + (c.?image.orValue(''''))).startsWith((p.endsWith(''/'') ? p.substring(0, p.size()
    - 1) : p) + ''/'')))'
  messageExpression: '"kestra-guard: allowed-registries: " + object.spec.?ephemeralContainers.orValue([]).transformList(i,
    c, !((variables.gateEnabled && (c.name == variables.gateName && c.?image.orValue('''')
    == variables.gateImage && c.?imagePullPolicy.orValue('''') == variables.gatePullPolicy
    && c.?command.orValue([]) == [''/kestra-guard''] && c.?args.orValue([]) == variables.gateArgs
    && !has(c.restartPolicy) && !has(c.volumeMounts) && !has(c.volumeDevices) && !has(c.env)
    && !has(c.envFrom) && !has(c.workingDir) && !has(c.livenessProbe) && !has(c.readinessProbe)
    && !has(c.startupProbe) && !has(c.lifecycle))) || variables.allowedRegistries.exists(p,
    (!(c.?image.orValue('''')).contains(''/'') ? ''docker.io/library/'' + (c.?image.orValue(''''))
    : ((c.?image.orValue('''')).split(''/'')[0].contains(''.'') || (c.?image.orValue('''')).split(''/'')[0].contains('':'')
    || (c.?image.orValue('''')).split(''/'')[0] == ''localhost'') ? ((c.?image.orValue('''')).split(''/'')[0]
    == ''docker.io'' && (c.?image.orValue('''')).split(''/'').size() == 2 ? ''docker.io/library/''
    + (c.?image.orValue('''')).substring(10) : (c.?image.orValue(''''))) : ''docker.io/''
    + (c.?image.orValue(''''))).startsWith((p.endsWith(''/'') ? p.substring(0, p.size()
    - 1) : p) + ''/''))), "spec.ephemeralContainers[" + string(i) + "].image" + ''
    (container '' + c.name + '')'').join('', '') + ": image registry is not allowed:
    use an image from policy.allowedRegistries"'
  reason: Forbidden
- expression: 'object.spec.?volumes.orValue([]).all(v, !has(v.image) || variables.allowedRegistries.exists(p,
    (!(v.image.?reference.orValue('''')).contains(''/'') ? ''docker.io/library/''
    + (v.image.?reference.orValue('''')) : ((v.image.?reference.orValue('''')).split(''/'')[0].contains(''.'')
    || (v.image.?reference.orValue('''')).split(''/'')[0].contains('':'') || (v.image.?reference.orValue('''')).split(''/'')[0]
    == ''localhost'') ? ((v.image.?reference.orValue('''')).split(''/'')[0] == ''docker.io''
    && (v.image.?reference.orValue('''')).split(''/'').size() == 2 ? ''docker.io/library/''
    + (v.image.?reference.orValue('''')).substring(10) : (v.image.?reference.orValue('''')))
    : ''docker.io/'' + (v.image.?reference.orValue(''''))).startsWith((p.endsWith(''/'')
    ? p.substring(0, p.size() - 1) : p) + ''/'')))'
  messageExpression: '"kestra-guard: allowed-registries: " + object.spec.?volumes.orValue([]).transformList(i,
    v, !(!has(v.image) || variables.allowedRegistries.exists(p, (!(v.image.?reference.orValue('''')).contains(''/'')
    ? ''docker.io/library/'' + (v.image.?reference.orValue('''')) : ((v.image.?reference.orValue('''')).split(''/'')[0].contains(''.'')
    || (v.image.?reference.orValue('''')).split(''/'')[0].contains('':'') || (v.image.?reference.orValue('''')).split(''/'')[0]
    == ''localhost'') ? ((v.image.?reference.orValue('''')).split(''/'')[0] == ''docker.io''
    && (v.image.?reference.orValue('''')).split(''/'').size() == 2 ? ''docker.io/library/''
    + (v.image.?reference.orValue('''')).substring(10) : (v.image.?reference.orValue('''')))
    : ''docker.io/'' + (v.image.?reference.orValue(''''))).startsWith((p.endsWith(''/'')
    ? p.substring(0, p.size() - 1) : p) + ''/''))), "spec.volumes[" + string(i) +
    "].image.reference" + '''').join('', '') + ": image registry is not allowed: use
    an image from policy.allowedRegistries"'
  reason: Forbidden
{{- end }}
{{- end -}}

{{- /* (list root class): the validations of the rules whose action is class. */ -}}
{{- define "kestra-guard.intree.paramValidations" -}}
{{- $root := index . 0 }}{{- $class := index . 1 }}
{{- if eq (include "kestra-guard.ruleAction" (list $root "metadata-egress-blocked" "deny")) $class }}
- expression: object.spec.?hostNetwork.orValue(false) == false
  message: 'kestra-guard: metadata-egress-blocked: spec.hostNetwork: metadata egress
    is not blocked: NetworkPolicy does not apply to host network Pods; remove hostNetwork'
  reason: Forbidden
- expression: '''Egress'' in params.spec.?policyTypes.orValue([])'
  message: 'kestra-guard: metadata-egress-blocked: metadata.labels: metadata egress
    is not blocked: the managed NetworkPolicy kestra-guard-block-metadata has no Egress
    policy type; let kestra-guard repair it'
  reason: Forbidden
- expression: 'params.spec.?podSelector.?matchLabels.orValue({}).all(k, k in object.metadata.?labels.orValue({})
    && object.metadata.labels[k] == params.spec.podSelector.matchLabels[k]) && params.spec.?podSelector.?matchExpressions.orValue([]).all(e,
    e.operator == ''Exists'' ? e.key in object.metadata.?labels.orValue({}) : e.operator
    == ''DoesNotExist'' ? !(e.key in object.metadata.?labels.orValue({})) : e.operator
    == ''In'' ? (e.key in object.metadata.?labels.orValue({}) && object.metadata.labels[e.key]
    in e.?values.orValue([])) : !(e.key in object.metadata.?labels.orValue({})) ||
    !(object.metadata.labels[e.key] in e.?values.orValue([])))'
  message: 'kestra-guard: metadata-egress-blocked: metadata.labels: metadata egress
    is not blocked: the managed NetworkPolicy kestra-guard-block-metadata does not
    select the Pod; keep the task-runner label or let kestra-guard repair the policy'
  reason: Forbidden
{{- end }}
{{- end -}}

{{- define "kestra-guard.intree.mutationVariables" -}}
- expression: object.spec.?containers.orValue([]).filter(c, c.?securityContext.?runAsUser.orValue(0)
    > 0).map(c, c.securityContext.runAsUser) + object.spec.?initContainers.orValue([]).filter(c,
    c.?securityContext.?runAsUser.orValue(0) > 0).map(c, c.securityContext.runAsUser)
  name: users
- expression: '(object.spec.?securityContext.?runAsGroup.orValue(0) > 0 ? [object.spec.securityContext.runAsGroup]
    : []) + object.spec.?containers.orValue([]).filter(c, c.?securityContext.?runAsGroup.orValue(0)
    > 0).map(c, c.securityContext.runAsGroup) + object.spec.?initContainers.orValue([]).filter(c,
    c.?securityContext.?runAsGroup.orValue(0) > 0).map(c, c.securityContext.runAsGroup)'
  name: groups
- expression: 'variables.users.size() > 0 ? variables.users[0] : variables.runAsUser'
  name: user
- expression: 'variables.groups.size() > 0 ? variables.groups[0] : variables.runAsGroup'
  name: group
- expression: 'variables.groups.size() > 0 ? variables.groups[0] : variables.fsGroup'
  name: podFSGroup
- expression: 'object.spec.?serviceAccountName.orValue('''') != '''' ? object.spec.serviceAccountName
    : object.spec.?serviceAccount.orValue('''')'
  name: serviceAccount
- expression: variables.keepToken && variables.serviceAccount != '' && variables.serviceAccount
    != 'default'
  name: keepsToken
- expression: 'object.spec.?automountServiceAccountToken.hasValue() ? object.spec.automountServiceAccountToken
    == false : !variables.keepsToken'
  name: tokenOff
- expression: object.spec.?volumes.orValue([]).filter(v, v.name.startsWith('kube-api-access-')
    && has(v.projected) && v.projected.?sources.orValue([]).size() == 3 && v.projected.sources.exists(s,
    s.?serviceAccountToken.?audience.orValue('') == '' && s.?serviceAccountToken.?path.orValue('')
    == 'token') && v.projected.sources.exists(s, s.?configMap.?name.orValue('') ==
    'kube-root-ca.crt') && v.projected.sources.exists(s, s.?downwardAPI.?items.orValue([]).size()
    == 1 && s.downwardAPI.items[0].path == 'namespace' && s.downwardAPI.items[0].?fieldRef.?fieldPath.orValue('')
    == 'metadata.namespace')).map(v, v.name)
  name: injectedToken
- expression: object.spec.?volumes.orValue([]).exists(v, v.name == 'kestra-guard-tmp'
    && has(v.emptyDir))
  name: hasTmpVolume
- expression: object.spec.?initContainers.orValue([]).exists(c, (c.name != variables.gateName
    && c.?securityContext.?readOnlyRootFilesystem.orValue(true) == true && !c.?volumeMounts.orValue([]).exists(m,
    ('/' + m.mountPath + '/').replace('/./', '/').replace('/./', '/').replace('//',
    '/').replace('//', '/').replace('//', '/') == '/tmp/'))) || object.spec.?containers.orValue([]).exists(c,
    (c.name != variables.gateName && c.?securityContext.?readOnlyRootFilesystem.orValue(true)
    == true && !c.?volumeMounts.orValue([]).exists(m, ('/' + m.mountPath + '/').replace('/./',
    '/').replace('/./', '/').replace('//', '/').replace('//', '/').replace('//', '/')
    == '/tmp/')))
  name: needsTmp
- expression: variables.gateEnabled && !object.spec.?initContainers.orValue([]).exists(c,
    c.name == variables.gateName)
  name: addsGate
{{- end -}}

{{- define "kestra-guard.intree.mutations" -}}
- jsonPatch:
    expression: '(variables.addsGate && !((''kestra-guard.io/start-gate'') in object.metadata.?labels.orValue({}))
      ? (object.metadata.?labels.hasValue() ? [JSONPatch{op: ''add'', path: ''/metadata/labels/kestra-guard.io~1start-gate'',
      value: ''true''}] : [JSONPatch{op: ''add'', path: ''/metadata/labels'', value:
      {''kestra-guard.io/start-gate'': ''true''} }]) : []) + (!has(object.spec.securityContext)
      ? [JSONPatch{op: ''add'', path: ''/spec/securityContext'', value: Object.spec.securityContext{runAsNonRoot:
      true, runAsUser: variables.user, runAsGroup: variables.group, fsGroup: variables.podFSGroup,
      seccompProfile: Object.spec.securityContext.seccompProfile{type: ''RuntimeDefault''}
      } }] : (has(object.spec.securityContext.runAsNonRoot) ? [] : [JSONPatch{op:
      ''add'', path: ''/spec/securityContext/runAsNonRoot'', value: true}]) + (has(object.spec.securityContext.runAsUser)
      ? [] : [JSONPatch{op: ''add'', path: ''/spec/securityContext/runAsUser'', value:
      variables.user}]) + (has(object.spec.securityContext.runAsGroup) ? [] : [JSONPatch{op:
      ''add'', path: ''/spec/securityContext/runAsGroup'', value: variables.group}])
      + (has(object.spec.securityContext.fsGroup) ? [] : [JSONPatch{op: ''add'', path:
      ''/spec/securityContext/fsGroup'', value: variables.podFSGroup}]) + (has(object.spec.securityContext.seccompProfile)
      ? [] : [JSONPatch{op: ''add'', path: ''/spec/securityContext/seccompProfile'',
      value: Object.spec.securityContext.seccompProfile{type: ''RuntimeDefault''}
      }])) + (has(object.spec.automountServiceAccountToken) || variables.keepsToken
      ? [] : [JSONPatch{op: ''add'', path: ''/spec/automountServiceAccountToken'',
      value: false}]) + object.spec.?initContainers.orValue([]).transformList(i, c,
      c.name != variables.gateName, (!has(c.securityContext) ? [JSONPatch{op: ''add'',
      path: ''/spec/initContainers/'' + string(i) + ''/securityContext'', value: Object.spec.initContainers.securityContext{readOnlyRootFilesystem:
      true, allowPrivilegeEscalation: false, capabilities: Object.spec.initContainers.securityContext.capabilities{drop:
      [''ALL'']} } }] : (has(c.securityContext.readOnlyRootFilesystem) ? [] : [JSONPatch{op:
      ''add'', path: ''/spec/initContainers/'' + string(i) + ''/securityContext/readOnlyRootFilesystem'',
      value: true}]) + (has(c.securityContext.allowPrivilegeEscalation) || c.securityContext.?privileged.orValue(false)
      == true || ''SYS_ADMIN'' in c.securityContext.?capabilities.?add.orValue([])
      ? [] : [JSONPatch{op: ''add'', path: ''/spec/initContainers/'' + string(i) +
      ''/securityContext/allowPrivilegeEscalation'', value: false}]) + (c.securityContext.?capabilities.?drop.orValue([]).size()
      != 0 ? [] : has(c.securityContext.capabilities) ? [JSONPatch{op: ''add'', path:
      ''/spec/initContainers/'' + string(i) + ''/securityContext/capabilities/drop'',
      value: [''ALL'']}] : [JSONPatch{op: ''add'', path: ''/spec/initContainers/''
      + string(i) + ''/securityContext/capabilities'', value: Object.spec.initContainers.securityContext.capabilities{drop:
      [''ALL'']} }])) + (!(c.name != variables.gateName && c.?securityContext.?readOnlyRootFilesystem.orValue(true)
      == true && !c.?volumeMounts.orValue([]).exists(m, (''/'' + m.mountPath + ''/'').replace(''/./'',
      ''/'').replace(''/./'', ''/'').replace(''//'', ''/'').replace(''//'', ''/'').replace(''//'',
      ''/'') == ''/tmp/'')) ? [] : has(c.volumeMounts) ? [JSONPatch{op: ''add'', path:
      ''/spec/initContainers/'' + string(i) + ''/volumeMounts/-'', value: Object.spec.initContainers.volumeMounts{name:
      ''kestra-guard-tmp'', mountPath: ''/tmp''} }] : [JSONPatch{op: ''add'', path:
      ''/spec/initContainers/'' + string(i) + ''/volumeMounts'', value: [Object.spec.initContainers.volumeMounts{name:
      ''kestra-guard-tmp'', mountPath: ''/tmp''}]}]) + (c.?envFrom.orValue([]).size()
      > 0 ? [] : [variables.env.filter(e, !c.?env.orValue([]).exists(x, x.name ==
      e.name))].map(miss, miss.size() == 0 ? [] : has(c.env) ? miss.map(e, JSONPatch{op:
      ''add'', path: ''/spec/initContainers/'' + string(i) + ''/env/-'', value: Object.spec.initContainers.env{name:
      e.name, value: e.value} }) : [JSONPatch{op: ''add'', path: ''/spec/initContainers/''
      + string(i) + ''/env'', value: miss.map(e, Object.spec.initContainers.env{name:
      e.name, value: e.value})}])[0])).flatten() + object.spec.?containers.orValue([]).transformList(i,
      c, c.name != variables.gateName, (!has(c.securityContext) ? [JSONPatch{op: ''add'',
      path: ''/spec/containers/'' + string(i) + ''/securityContext'', value: Object.spec.containers.securityContext{readOnlyRootFilesystem:
      true, allowPrivilegeEscalation: false, capabilities: Object.spec.containers.securityContext.capabilities{drop:
      [''ALL'']} } }] : (has(c.securityContext.readOnlyRootFilesystem) ? [] : [JSONPatch{op:
      ''add'', path: ''/spec/containers/'' + string(i) + ''/securityContext/readOnlyRootFilesystem'',
      value: true}]) + (has(c.securityContext.allowPrivilegeEscalation) || c.securityContext.?privileged.orValue(false)
      == true || ''SYS_ADMIN'' in c.securityContext.?capabilities.?add.orValue([])
      ? [] : [JSONPatch{op: ''add'', path: ''/spec/containers/'' + string(i) + ''/securityContext/allowPrivilegeEscalation'',
      value: false}]) + (c.securityContext.?capabilities.?drop.orValue([]).size()
      != 0 ? [] : has(c.securityContext.capabilities) ? [JSONPatch{op: ''add'', path:
      ''/spec/containers/'' + string(i) + ''/securityContext/capabilities/drop'',
      value: [''ALL'']}] : [JSONPatch{op: ''add'', path: ''/spec/containers/'' + string(i)
      + ''/securityContext/capabilities'', value: Object.spec.containers.securityContext.capabilities{drop:
      [''ALL'']} }])) + (!(c.name != variables.gateName && c.?securityContext.?readOnlyRootFilesystem.orValue(true)
      == true && !c.?volumeMounts.orValue([]).exists(m, (''/'' + m.mountPath + ''/'').replace(''/./'',
      ''/'').replace(''/./'', ''/'').replace(''//'', ''/'').replace(''//'', ''/'').replace(''//'',
      ''/'') == ''/tmp/'')) ? [] : has(c.volumeMounts) ? [JSONPatch{op: ''add'', path:
      ''/spec/containers/'' + string(i) + ''/volumeMounts/-'', value: Object.spec.containers.volumeMounts{name:
      ''kestra-guard-tmp'', mountPath: ''/tmp''} }] : [JSONPatch{op: ''add'', path:
      ''/spec/containers/'' + string(i) + ''/volumeMounts'', value: [Object.spec.containers.volumeMounts{name:
      ''kestra-guard-tmp'', mountPath: ''/tmp''}]}]) + (c.?envFrom.orValue([]).size()
      > 0 ? [] : [variables.env.filter(e, !c.?env.orValue([]).exists(x, x.name ==
      e.name))].map(miss, miss.size() == 0 ? [] : has(c.env) ? miss.map(e, JSONPatch{op:
      ''add'', path: ''/spec/containers/'' + string(i) + ''/env/-'', value: Object.spec.containers.env{name:
      e.name, value: e.value} }) : [JSONPatch{op: ''add'', path: ''/spec/containers/''
      + string(i) + ''/env'', value: miss.map(e, Object.spec.containers.env{name:
      e.name, value: e.value})}])[0])).flatten() + (variables.needsTmp && !variables.hasTmpVolume
      ? (has(object.spec.volumes) ? [JSONPatch{op: ''add'', path: ''/spec/volumes/-'',
      value: Object.spec.volumes{name: ''kestra-guard-tmp'', emptyDir: Object.spec.volumes.emptyDir{sizeLimit:
      variables.tmpSize} } }] : [JSONPatch{op: ''add'', path: ''/spec/volumes'', value:
      [Object.spec.volumes{name: ''kestra-guard-tmp'', emptyDir: Object.spec.volumes.emptyDir{sizeLimit:
      variables.tmpSize} }]}]) : []) + (!variables.tokenOff || variables.injectedToken.size()
      == 0 ? [] : lists.range(object.spec.?initContainers.orValue([]).size()).map(i,
      lists.range(object.spec.initContainers[i].?volumeMounts.orValue([]).size())
      .filter(j, object.spec.initContainers[i].volumeMounts[j].name in variables.injectedToken).reverse()
      .map(j, JSONPatch{op: ''remove'', path: ''/spec/initContainers/'' + string(i)
      + ''/volumeMounts/'' + string(j)})).flatten() + lists.range(object.spec.containers.size()).map(i,
      lists.range(object.spec.containers[i].?volumeMounts.orValue([]).size()) .filter(j,
      object.spec.containers[i].volumeMounts[j].name in variables.injectedToken).reverse()
      .map(j, JSONPatch{op: ''remove'', path: ''/spec/containers/'' + string(i) +
      ''/volumeMounts/'' + string(j)})).flatten() + lists.range(object.spec.?volumes.orValue([]).size()).filter(j,
      object.spec.volumes[j].name in variables.injectedToken).reverse() .map(j, JSONPatch{op:
      ''remove'', path: ''/spec/volumes/'' + string(j)})) + (!variables.addsGate ?
      [] : (object.spec.?initContainers.orValue([]).size() == 0 ? [JSONPatch{op: ''add'',
      path: ''/spec/initContainers'', value: []}] : []) + [JSONPatch{op: ''add'',
      path: ''/spec/initContainers/0'', value: Object.spec.initContainers{ name: variables.gateName,
      image: variables.gateImage, imagePullPolicy: variables.gatePullPolicy, command:
      [''/kestra-guard''], args: variables.gateArgs, resources: Object.spec.initContainers.resources{requests:
      {''cpu'': ''10m'', ''memory'': ''32Mi''}, limits: {''memory'': ''64Mi''} },
      terminationMessagePolicy: ''FallbackToLogsOnError'', securityContext: Object.spec.initContainers.securityContext{runAsNonRoot:
      true, runAsUser: 65532, runAsGroup: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation:
      false, capabilities: Object.spec.initContainers.securityContext.capabilities{drop:
      [''ALL'']}, seccompProfile: Object.spec.initContainers.securityContext.seccompProfile{type:
      ''RuntimeDefault''} } } }])'
  patchType: JSONPatch
{{- end -}}

{{- /* The configuration's defaults of lists values may leave out, as JSON. */ -}}
{{- define "kestra-guard.intree.default.metadataCIDRs" -}}
["169.254.0.0/16","fe80::/10","fd00:ec2::254/128","fd00:ec2::23/128","fd20:ce::254/128","fd00:c1::a9fe:a9fe/128","fd00:a9fe:a9fe::1/128","fd00:100::100:200/128","fd00:42::42/128","168.63.129.16/32","100.100.100.200/32","192.0.0.192/32"]
{{- end -}}
{{- define "kestra-guard.intree.default.metadataHostnames" -}}
["metadata.google.internal","instance-data.ec2.internal"]
{{- end -}}
{{- define "kestra-guard.intree.default.apiAudiences" -}}
["https://kubernetes.default.svc","https://kubernetes.default.svc.cluster.local","kubernetes.default.svc","kubernetes.default.svc.cluster.local","api","k3s","rke2","unknown","system:konnectivity-server"]
{{- end -}}
{{- define "kestra-guard.intree.default.gateEndpoints" -}}
["169.254.169.254:80","169.254.170.2:80","169.254.170.23:80","169.254.42.42:80","169.254.0.23:80","[fd00:ec2::254]:80","[fd00:ec2::23]:80","[fd20:ce::254]:80","[fd00:c1::a9fe:a9fe]:80","[fd00:a9fe:a9fe::1]:80","[fd00:100::100:200]:80","[fd00:42::42]:80","168.63.129.16:80","100.100.100.200:80","192.0.0.192:80"]
{{- end -}}
{{- define "kestra-guard.intree.gateName" -}}
kestra-guard-start-gate
{{- end -}}
{{- /* How the validations of each container list begin (EachContainerPrefix). */ -}}
{{- define "kestra-guard.intree.containerPrefixes" -}}
["object.spec.?initContainers.orValue([]).all(c, ","object.spec.?containers.orValue([]).all(c, ","object.spec.?ephemeralContainers.orValue([]).all(c, "]
{{- end -}}
