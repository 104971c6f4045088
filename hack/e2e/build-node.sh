#!/usr/bin/env bash
# Builds what the e2e node needs into bin/node/, once: the kubelet, kube-controller-manager and
# kube-scheduler (from k8s.io/kubernetes, the same wrapper-module way as
# hack/build-control-plane.sh, so the Go build cache is shared with kube-apiserver), kube-router
# (only its NetworkPolicy firewall is used) and a static pause binary.
# The Kubernetes version follows k8s.io/api in go.mod (v0.X.Y -> v1.X.Y).
#
# Usage: hack/e2e/build-node.sh        prints the folder holding the binaries
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${root}"

api_version="$(go list -m -f '{{.Version}}' k8s.io/api)"
k8s_version="v1${api_version#v0}"
router_version="${KUBE_ROUTER_VERSION:-v2.1.0}"
out="${root}/bin/node"
work="${out}/.build"

step() { echo "build-node: $*" >&2; }
fail() { echo "build-node: FAILED while $*" >&2; exit 1; }
# shellcheck source=hack/lib/kubernetes.sh
source "${root}/hack/lib/kubernetes.sh"

mkdir -p "${out}" "${work}"
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

components=(kubelet kube-controller-manager kube-scheduler)
if [[ ! -f "${out}/.kubernetes-${k8s_version}" ]]; then
  step "building ${components[*]} ${k8s_version} from k8s.io/kubernetes (first run only: about 10 minutes on 2 cores)"
  build_kubernetes node "${api_version}" "${k8s_version}" "${work}" "${out}" "${components[@]}"
  touch "${out}/.kubernetes-${k8s_version}"
fi

if [[ ! -x "${out}/kube-router" || ! -f "${out}/.kube-router-${router_version}" ]]; then
  step "building kube-router ${router_version} from github.com/cloudnativelabs/kube-router/v2 (first run only: about 4 minutes)"
  mod="${work}/kube-router-${router_version}"
  rm -rf "${mod}" && mkdir -p "${mod}"
  rgomod="$(cd "${mod}" && go mod download -json "github.com/cloudnativelabs/kube-router/v2@${router_version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')" \
    || fail "downloading kube-router ${router_version}"
  {
    echo "module kestra-guard.local/kube-router"
    echo
    echo "go $(sed -n 's/^go \([0-9.]*\).*/\1/p' "${rgomod}")"
    echo
    echo "require github.com/cloudnativelabs/kube-router/v2 ${router_version}"
    # kube-router's own replace directives do not apply to a module that requires it: copy them.
    sed -n '/^replace (/,/^)/p; /^replace [^(]/p' "${rgomod}"
  } > "${mod}/go.mod"
  cat > "${mod}/tools.go" <<'EOF'
//go:build tools

package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
EOF
  (cd "${mod}" && go mod tidy >/dev/null 2>&1 || go mod download) || fail "resolving modules for kube-router"
  (cd "${mod}" && go build -trimpath -ldflags "-s -w" -o "${out}/kube-router.tmp" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router) \
    || fail "compiling kube-router ${router_version}"
  mv "${out}/kube-router.tmp" "${out}/kube-router"
  touch "${out}/.kube-router-${router_version}"
fi

if [[ ! -x "${out}/pause" ]]; then
  step "compiling a static pause"
  cc -static -O2 -o "${out}/pause.tmp" "${root}/hack/e2e/pause.c" || fail "compiling hack/e2e/pause.c (needs gcc and libc headers)"
  mv "${out}/pause.tmp" "${out}/pause"
fi

echo "${out}"
