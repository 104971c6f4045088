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

// celContainer is the apply configuration of one container c of the list
// whose item type is $T (Object.spec.containers and the like).
const celContainer = `$T{
	name: c.name,
	?securityContext: c.name == variables.gateName ? optional.none() : optional.of($T.securityContext{
		?readOnlyRootFilesystem: c.?securityContext.?readOnlyRootFilesystem.hasValue() ? optional.none() : optional.of(true),
		?allowPrivilegeEscalation: c.?securityContext.?allowPrivilegeEscalation.hasValue() || c.?securityContext.?privileged.orValue(false) == true ||
			'SYS_ADMIN' in c.?securityContext.?capabilities.?add.orValue([]) ? optional.none() : optional.of(false),
	}),
	?volumeMounts: ` + celNeedsTmp + ` ? optional.of([$T.volumeMounts{name: '` + TmpVolume + `', mountPath: '/tmp'}]) : optional.none(),
	?env: c.name == variables.gateName || c.?envFrom.orValue([]).size() > 0 ||
		variables.env.all(e, c.?env.orValue([]).exists(x, x.name == e.name)) ? optional.none() :
		optional.of(variables.env.filter(e, !c.?env.orValue([]).exists(x, x.name == e.name)).map(e, $T.env{name: e.name, value: e.value}))
}`

// celDropAll is the JSON patch that sets capabilities.drop: [ALL] on each
// container of list that drops nothing (the gate aside).
func celDropAll(list string) string {
	return `lists.range(object.spec.?` + list + `.orValue([]).size()).filter(i, object.spec.` + list + `[i].name != variables.gateName &&
		object.spec.` + list + `[i].?securityContext.?capabilities.?drop.orValue([]).size() == 0)
	.map(i, object.spec.` + list + `[i].?securityContext.?capabilities.hasValue() ?
		JSONPatch{op: 'add', path: '/spec/` + list + `/' + string(i) + '/securityContext/capabilities/drop', value: ['ALL']} :
		JSONPatch{op: 'add', path: '/spec/` + list + `/' + string(i) + '/securityContext/capabilities', value: Object.spec.` + list + `.securityContext.capabilities{drop: ['ALL']}})`
}

// InTreeMutations are the MutatingAdmissionPolicy's mutations, applied in
// order: the apply configuration that fills unset fields (it appends to
// lists, so indices the patch below reads stay valid), then one JSON patch:
// capabilities.drop, the removal of the injected token (from the last index
// down), and the start gate put first (last, as it shifts the init
// containers' indices). The API server encodes, patches and decodes the Pod
// once per mutation, even for an empty patch, so they are one (measured by
// hand: no gain beyond the noise; BENCHMARKS.md's hand-written notes).
var InTreeMutations = []struct{ PatchType, Expr string }{
	{"ApplyConfiguration", `Object{
	?metadata: variables.addsGate && !(('` + GateLabel + `') in object.metadata.?labels.orValue({})) ?
		optional.of(Object.metadata{labels: {'` + GateLabel + `': 'true'}}) : optional.none(),
	spec: Object.spec{
		securityContext: Object.spec.securityContext{
			?runAsNonRoot: object.spec.?securityContext.?runAsNonRoot.hasValue() ? optional.none() : optional.of(true),
			?runAsUser: object.spec.?securityContext.?runAsUser.hasValue() ? optional.none() : optional.of(variables.user),
			?runAsGroup: object.spec.?securityContext.?runAsGroup.hasValue() ? optional.none() : optional.of(variables.group),
			?fsGroup: object.spec.?securityContext.?fsGroup.hasValue() ? optional.none() : optional.of(variables.podFSGroup),
			?seccompProfile: object.spec.?securityContext.?seccompProfile.hasValue() ? optional.none() :
				optional.of(Object.spec.securityContext.seccompProfile{type: 'RuntimeDefault'})
		},
		?automountServiceAccountToken: object.spec.?automountServiceAccountToken.hasValue() || variables.keepsToken ? optional.none() : optional.of(false),
		?initContainers: object.spec.?initContainers.orValue([]).size() == 0 ? optional.none() :
			optional.of(object.spec.initContainers.map(c, ` + strings.ReplaceAll(celContainer, "$T", "Object.spec.initContainers") + `)),
		containers: object.spec.containers.map(c, ` + strings.ReplaceAll(celContainer, "$T", "Object.spec.containers") + `),
		?volumes: variables.needsTmp && !variables.hasTmpVolume ?
			optional.of([Object.spec.volumes{name: '` + TmpVolume + `', emptyDir: Object.spec.volumes.emptyDir{sizeLimit: variables.tmpSize}}]) : optional.none()
	}
}`},
	// capabilities.drop is an atomic list, which an apply configuration may
	// not set.
	{"JSONPatch", celDropAll("initContainers") + " + " + celDropAll("containers") + ` + (` + tokenRemoval + `) + (` + gateFirst + `)`},
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
