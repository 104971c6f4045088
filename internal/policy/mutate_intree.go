package policy

import "strings"

// The mutation's in-tree form: what Mutate does on CREATE, as the CEL of a
// MutatingAdmissionPolicy (make generate writes it into the chart, see
// internal/intree). It fills only what is unset, as Mutate does: the Pod's
// identity (podIdentity), seccomp, the token (and the volume the
// ServiceAccount plugin injected), each container's read-only root with the
// /tmp emptyDir, privilege escalation, capabilities and env, and the start
// gate first with its label. The expressions read the policy's variables:
// runAsUser, runAsGroup, fsGroup, tmpSize, env (a list of {name, value}),
// keepToken, and the gate* variables of the validating policies.
// What it does not do: harden the ephemeral containers of a
// pods/ephemeralcontainers update (the webhook's), and clean a mount path
// with ".." when looking for a mount at /tmp.

// InTreeMutationVariables are the variables the mutations read, in order
// (a variable may read those before it).
var InTreeMutationVariables = []struct{ Name, Expr string }{
	{"users", `object.spec.?containers.orValue([]).filter(c, c.?securityContext.?runAsUser.orValue(0) > 0).map(c, c.securityContext.runAsUser) +
		object.spec.?initContainers.orValue([]).filter(c, c.?securityContext.?runAsUser.orValue(0) > 0).map(c, c.securityContext.runAsUser)`},
	{"groups", `(object.spec.?securityContext.?runAsGroup.orValue(0) > 0 ? [object.spec.securityContext.runAsGroup] : []) +
		object.spec.?containers.orValue([]).filter(c, c.?securityContext.?runAsGroup.orValue(0) > 0).map(c, c.securityContext.runAsGroup) +
		object.spec.?initContainers.orValue([]).filter(c, c.?securityContext.?runAsGroup.orValue(0) > 0).map(c, c.securityContext.runAsGroup)`},
	{"user", `variables.users.size() > 0 ? variables.users[0] : variables.runAsUser`},
	{"group", `variables.groups.size() > 0 ? variables.groups[0] : variables.runAsGroup`},
	{"podFSGroup", `variables.groups.size() > 0 ? variables.groups[0] : variables.fsGroup`},
	{"serviceAccount", `object.spec.?serviceAccountName.orValue('') != '' ? object.spec.serviceAccountName : object.spec.?serviceAccount.orValue('')`},
	{"keepsToken", `variables.keepToken && variables.serviceAccount != '' && variables.serviceAccount != 'default'`},
	{"tokenOff", `object.spec.?automountServiceAccountToken.hasValue() ? object.spec.automountServiceAccountToken == false : !variables.keepsToken`},
	{"injectedToken", `object.spec.?volumes.orValue([]).filter(v, v.name.startsWith('` + injectedTokenPrefix + `') && has(v.projected) &&
		v.projected.?sources.orValue([]).size() == 3 &&
		v.projected.sources.exists(s, s.?serviceAccountToken.?audience.orValue('') == '' && s.?serviceAccountToken.?path.orValue('') == 'token') &&
		v.projected.sources.exists(s, s.?configMap.?name.orValue('') == 'kube-root-ca.crt') &&
		v.projected.sources.exists(s, s.?downwardAPI.?items.orValue([]).size() == 1 && s.downwardAPI.items[0].path == 'namespace' &&
			s.downwardAPI.items[0].?fieldRef.?fieldPath.orValue('') == 'metadata.namespace')).map(v, v.name)`},
	{"hasTmpVolume", `object.spec.?volumes.orValue([]).exists(v, v.name == '` + TmpVolume + `' && has(v.emptyDir))`},
	{"needsTmp", `object.spec.?initContainers.orValue([]).exists(c, ` + celNeedsTmp + `) || object.spec.?containers.orValue([]).exists(c, ` + celNeedsTmp + `)`},
	{"addsGate", `variables.gateEnabled && !object.spec.?initContainers.orValue([]).exists(c, c.name == variables.gateName)`},
}

// celNeedsTmp is true when container c gets the /tmp emptyDir: its root is
// read-only once mutated and nothing is mounted at /tmp. The start gate
// (by name) needs neither /tmp nor the env.
const celNeedsTmp = `(c.name != variables.gateName && c.?securityContext.?readOnlyRootFilesystem.orValue(true) == true &&
	!c.?volumeMounts.orValue([]).exists(m, ('/' + m.mountPath + '/').replace('/./', '/').replace('/./', '/').replace('//', '/').replace('//', '/').replace('//', '/') == '/tmp/'))`

// celContainer is the JSON patch filling the unset fields of container c,
// whose JSON pointer is the expression $P, in a list whose item type is $T
// (Object.spec.containers and the like); the start gate (by name) is left
// out before. Where c has no securityContext (or no volumeMounts, no env),
// the patch adds it whole. Lists get their items appended ("/-"), so the
// indices the token removal reads stay valid.
const celContainer = `(!has(c.securityContext) ?
		[JSONPatch{op: 'add', path: $P + '/securityContext', value: $T.securityContext{readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
			capabilities: $T.securityContext.capabilities{drop: ['ALL']}}}] :
		(has(c.securityContext.readOnlyRootFilesystem) ? [] : [JSONPatch{op: 'add', path: $P + '/securityContext/readOnlyRootFilesystem', value: true}]) +
		(has(c.securityContext.allowPrivilegeEscalation) || c.securityContext.?privileged.orValue(false) == true ||
			'SYS_ADMIN' in c.securityContext.?capabilities.?add.orValue([]) ? [] :
			[JSONPatch{op: 'add', path: $P + '/securityContext/allowPrivilegeEscalation', value: false}]) +
		(c.securityContext.?capabilities.?drop.orValue([]).size() != 0 ? [] : has(c.securityContext.capabilities) ?
			[JSONPatch{op: 'add', path: $P + '/securityContext/capabilities/drop', value: ['ALL']}] :
			[JSONPatch{op: 'add', path: $P + '/securityContext/capabilities', value: $T.securityContext.capabilities{drop: ['ALL']}}])) +
	(!` + celNeedsTmp + ` ? [] : has(c.volumeMounts) ?
		[JSONPatch{op: 'add', path: $P + '/volumeMounts/-', value: $T.volumeMounts{name: '` + TmpVolume + `', mountPath: '/tmp'}}] :
		[JSONPatch{op: 'add', path: $P + '/volumeMounts', value: [$T.volumeMounts{name: '` + TmpVolume + `', mountPath: '/tmp'}]}]) +
	(c.?envFrom.orValue([]).size() > 0 ? [] :
		[variables.env.filter(e, !c.?env.orValue([]).exists(x, x.name == e.name))].map(miss, miss.size() == 0 ? [] : has(c.env) ?
			miss.map(e, JSONPatch{op: 'add', path: $P + '/env/-', value: $T.env{name: e.name, value: e.value}}) :
			[JSONPatch{op: 'add', path: $P + '/env', value: miss.map(e, $T.env{name: e.name, value: e.value})}])[0])`

// celContainers is the JSON patch of every container of list (the start
// gate aside).
func celContainers(list string) string {
	c := strings.NewReplacer("$P", `'/spec/`+list+`/' + string(i)`, "$T", "Object.spec."+list).Replace(celContainer)
	return `object.spec.?` + list + `.orValue([]).transformList(i, c, c.name != variables.gateName, ` + c + `).flatten()`
}

// celSeccomp is the Pod's default seccomp profile.
const celSeccomp = `Object.spec.securityContext.seccompProfile{type: 'RuntimeDefault'}`

// celTmpVolume is the /tmp emptyDir.
const celTmpVolume = `Object.spec.volumes{name: '` + TmpVolume + `', emptyDir: Object.spec.volumes.emptyDir{sizeLimit: variables.tmpSize}}`

// InTreeMutations are the MutatingAdmissionPolicy's mutations: one JSON
// patch that fills the unset fields (the gate's label, the Pod's identity
// and seccomp, the token, each container's read-only root with the /tmp
// emptyDir, privilege escalation, capabilities.drop and env), removes the
// token the ServiceAccount plugin injected (from the last index down) and
// puts the start gate first (last, as it shifts the init containers'
// indices). One JSON patch, not an apply configuration and a patch: the API
// server converts the Pod to CEL, evaluates, patches, decodes, converts and
// defaults it once per mutation, even for an empty patch, and an apply
// configuration adds structured-merge-diff's typed conversions of the whole
// Pod (issue 25's profiles: hack/bench/notes.md).
var InTreeMutations = []struct{ PatchType, Expr string }{
	{"JSONPatch", `(variables.addsGate && !(('` + GateLabel + `') in object.metadata.?labels.orValue({})) ?
	(object.metadata.?labels.hasValue() ?
		[JSONPatch{op: 'add', path: '/metadata/labels/` + strings.ReplaceAll(GateLabel, "/", "~1") + `', value: 'true'}] :
		[JSONPatch{op: 'add', path: '/metadata/labels', value: {'` + GateLabel + `': 'true'}}]) : []) +
(!has(object.spec.securityContext) ?
	[JSONPatch{op: 'add', path: '/spec/securityContext', value: Object.spec.securityContext{runAsNonRoot: true, runAsUser: variables.user,
		runAsGroup: variables.group, fsGroup: variables.podFSGroup, seccompProfile: ` + celSeccomp + `}}] :
	(has(object.spec.securityContext.runAsNonRoot) ? [] : [JSONPatch{op: 'add', path: '/spec/securityContext/runAsNonRoot', value: true}]) +
	(has(object.spec.securityContext.runAsUser) ? [] : [JSONPatch{op: 'add', path: '/spec/securityContext/runAsUser', value: variables.user}]) +
	(has(object.spec.securityContext.runAsGroup) ? [] : [JSONPatch{op: 'add', path: '/spec/securityContext/runAsGroup', value: variables.group}]) +
	(has(object.spec.securityContext.fsGroup) ? [] : [JSONPatch{op: 'add', path: '/spec/securityContext/fsGroup', value: variables.podFSGroup}]) +
	(has(object.spec.securityContext.seccompProfile) ? [] : [JSONPatch{op: 'add', path: '/spec/securityContext/seccompProfile', value: ` + celSeccomp + `}])) +
(has(object.spec.automountServiceAccountToken) || variables.keepsToken ? [] : [JSONPatch{op: 'add', path: '/spec/automountServiceAccountToken', value: false}]) +
` + celContainers("initContainers") + ` +
` + celContainers("containers") + ` +
(variables.needsTmp && !variables.hasTmpVolume ? (has(object.spec.volumes) ?
	[JSONPatch{op: 'add', path: '/spec/volumes/-', value: ` + celTmpVolume + `}] :
	[JSONPatch{op: 'add', path: '/spec/volumes', value: [` + celTmpVolume + `]}]) : []) +
(` + tokenRemoval + `) + (` + gateFirst + `)`},
}

// tokenRemoval is the JSON patch removing the token the ServiceAccount
// plugin injected, when the Pod gets none.
const tokenRemoval = `!variables.tokenOff || variables.injectedToken.size() == 0 ? [] :
	lists.range(object.spec.?initContainers.orValue([]).size()).map(i, lists.range(object.spec.initContainers[i].?volumeMounts.orValue([]).size())
		.filter(j, object.spec.initContainers[i].volumeMounts[j].name in variables.injectedToken).reverse()
		.map(j, JSONPatch{op: 'remove', path: '/spec/initContainers/' + string(i) + '/volumeMounts/' + string(j)})).flatten() +
	lists.range(object.spec.containers.size()).map(i, lists.range(object.spec.containers[i].?volumeMounts.orValue([]).size())
		.filter(j, object.spec.containers[i].volumeMounts[j].name in variables.injectedToken).reverse()
		.map(j, JSONPatch{op: 'remove', path: '/spec/containers/' + string(i) + '/volumeMounts/' + string(j)})).flatten() +
	lists.range(object.spec.?volumes.orValue([]).size()).filter(j, object.spec.volumes[j].name in variables.injectedToken).reverse()
		.map(j, JSONPatch{op: 'remove', path: '/spec/volumes/' + string(j)})`

// gateFirst is the JSON patch putting the start gate first.
const gateFirst = `!variables.addsGate ? [] :
	(object.spec.?initContainers.orValue([]).size() == 0 ? [JSONPatch{op: 'add', path: '/spec/initContainers', value: []}] : []) +
	[JSONPatch{op: 'add', path: '/spec/initContainers/0', value: Object.spec.initContainers{
		name: variables.gateName, image: variables.gateImage, imagePullPolicy: variables.gatePullPolicy,
		command: ['/kestra-guard'], args: variables.gateArgs,
		resources: Object.spec.initContainers.resources{requests: {'cpu': '10m', 'memory': '32Mi'}, limits: {'memory': '64Mi'}},
		terminationMessagePolicy: 'FallbackToLogsOnError',
		securityContext: Object.spec.initContainers.securityContext{runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532,
			readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
			capabilities: Object.spec.initContainers.securityContext.capabilities{drop: ['ALL']},
			seccompProfile: Object.spec.initContainers.securityContext.seccompProfile{type: 'RuntimeDefault'}}}}]`
