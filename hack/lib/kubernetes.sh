# Sourced by hack/build-control-plane.sh and hack/e2e/build-node.sh: builds commands of
# k8s.io/kubernetes from the Go module proxy. k8s.io/kubernetes is not meant to be required as
# a module (its go.mod replaces every staging module with ./staging/...), so a wrapper module
# requires it and points each staging module at its published v0.X.Y; the version variables are
# set with -ldflags as Kubernetes' own build does. The caller defines fail().

# build_kubernetes NAME API_VERSION K8S_VERSION WORK OUT CMD...
# builds k8s.io/kubernetes/cmd/CMD for each CMD into OUT/CMD, through the wrapper module
# WORK/NAME-K8S_VERSION. A binary appears in OUT only once every CMD compiled.
build_kubernetes() {
  local name="$1" api_version="$2" k8s_version="$3" work="$4" out="$5"
  shift 5
  local cmds=("$@") mod="${work}/${name}-${k8s_version}" kgomod minor ldflags pkg c
  rm -rf "${mod}" && mkdir -p "${mod}"
  kgomod="$(cd "${mod}" && go mod download -json "k8s.io/kubernetes@${k8s_version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')" \
    || fail "downloading k8s.io/kubernetes@${k8s_version}"
  [[ -f "${kgomod}" ]] || fail "reading the go.mod of k8s.io/kubernetes@${k8s_version}"
  {
    echo "module kestra-guard.local/${name}"
    echo
    echo "go $(sed -n 's/^go \(.*\)/\1/p' "${kgomod}")"
    echo
    echo "require k8s.io/kubernetes ${k8s_version}"
    echo
    # Every staging module k8s.io/kubernetes replaces with ./staging/... is published as v0.X.Y.
    grep -E '^\s*k8s.io/[a-z0-9-]+ => ./staging/' "${kgomod}" \
      | awk -v v="${api_version}" '{print "replace " $1 " => " $1 " " v}'
  } > "${mod}/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in "${cmds[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "${c}"; done
    printf ')\n'
  } > "${mod}/tools.go"
  (cd "${mod}" && go mod tidy >/dev/null 2>&1 || go mod download) || fail "resolving modules for ${cmds[*]}"
  minor="$(echo "${k8s_version}" | cut -d. -f2)"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${k8s_version} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
  done
  rm -rf "${out}/.tmp-${name}" && mkdir -p "${out}/.tmp-${name}"
  (cd "${mod}" && go build -trimpath -ldflags "${ldflags}" -o "${out}/.tmp-${name}/" "${cmds[@]/#/k8s.io/kubernetes/cmd/}") \
    || fail "compiling ${cmds[*]} ${k8s_version}"
  mv "${out}/.tmp-${name}"/* "${out}/" && rmdir "${out}/.tmp-${name}"
}
