#!/usr/bin/env bash
# Builds kube-apiserver and etcd from their Go modules into bin/k8s/<version>/,
# once. The Kubernetes version follows k8s.io/api in go.mod (v0.X.Y -> v1.X.Y).
# No download site is reachable here, so nothing is fetched but Go modules.
#
# Usage: hack/build-control-plane.sh        prints the folder holding both binaries
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"

api_version="$(go list -m -f '{{.Version}}' k8s.io/api)"
k8s_version="v1${api_version#v0}"
etcd_version="${ETCD_VERSION:-v3.6.16}"
out="${root}/bin/k8s/${k8s_version}"
work="${root}/bin/k8s/.build"

step() { echo "control-plane: $*" >&2; }
fail() { echo "control-plane: FAILED while $*" >&2; exit 1; }
# shellcheck source=hack/lib/kubernetes.sh
source "${root}/hack/lib/kubernetes.sh"

if [[ -x "${out}/kube-apiserver" && -x "${out}/etcd" && -f "${out}/.etcd-${etcd_version}" ]]; then
  echo "${out}"
  exit 0
fi
mkdir -p "${out}" "${work}"
# One build at a time: test packages and worktrees sharing bin/k8s may call
# this script together; the others wait, then find the binaries built.
exec 9>"${work}/.lock"
flock 9
if [[ -x "${out}/kube-apiserver" && -x "${out}/etcd" && -f "${out}/.etcd-${etcd_version}" ]]; then
  echo "${out}"
  exit 0
fi
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

if [[ ! -x "${out}/kube-apiserver" ]]; then
  step "building kube-apiserver ${k8s_version} from k8s.io/kubernetes (first run only: about 10 minutes on 2 cores)"
  build_kubernetes kube-apiserver "${api_version}" "${k8s_version}" "${work}" "${out}" kube-apiserver
fi

if [[ ! -x "${out}/etcd" || ! -f "${out}/.etcd-${etcd_version}" ]]; then
  step "building etcd ${etcd_version} from go.etcd.io/etcd/server/v3 (first run only: a few minutes)"
  mod="${work}/etcd-${etcd_version}"
  rm -rf "${mod}" && mkdir -p "${mod}"
  cat > "${mod}/go.mod" <<EOF
module kestra-guard.local/etcd

go 1.24

require (
	go.etcd.io/etcd/api/v3 ${etcd_version}
	go.etcd.io/etcd/client/pkg/v3 ${etcd_version}
	go.etcd.io/etcd/client/v3 ${etcd_version}
	go.etcd.io/etcd/pkg/v3 ${etcd_version}
	go.etcd.io/etcd/server/v3 ${etcd_version}
)
EOF
  cat > "${mod}/main.go" <<'EOF'
// Command etcd is etcd's server, built from its Go module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  (cd "${mod}" && go mod tidy >/dev/null) || fail "resolving modules for etcd ${etcd_version}"
  (cd "${mod}" && go build -trimpath -ldflags "-s -w" -o "${out}/etcd.tmp" .) || fail "compiling etcd ${etcd_version}"
  mv "${out}/etcd.tmp" "${out}/etcd"
  touch "${out}/.etcd-${etcd_version}"
fi

step "ready: ${out}"
echo "${out}"
