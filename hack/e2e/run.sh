#!/usr/bin/env bash
# make e2e: one real node on this machine, then the e2e suite (test/e2e), then teardown.
#
# Starts etcd, kube-apiserver (default admission plugins, ServiceAccount on), kube-controller-manager,
# kube-scheduler, containerd (Debian's, with its own config, socket and state), the kubelet, a CNI
# bridge and kube-router's NetworkPolicy firewall; installs kestra-guard with its Helm chart from
# the image `make image` wrote; runs `go test -tags e2e ./test/e2e/`; and removes everything it
# started or created, also after a failure or Ctrl-C (trap on EXIT).
#
# Network layout (nothing here can reach the machine's uplink):
#   kg0           a bridge with no address in the root namespace, attached to no uplink
#   kgh           10.77.0.2/24, the root namespace's leg on kg0: the API server and the kubelet
#                 listen there (so Pods reach the API server and the API server reaches Pods);
#                 the root namespace does not forward (net.ipv4.ip_forward stays 0, asserted)
#   kg-e2e-gw     network namespace: 10.77.0.1 (the Pods' only gateway) and the fake metadata
#                 server 169.254.77.77:80 and a stand-in node-local DNS address 169.254.77.53 (the
#                 suite serves DNS there); no other interface, no default route
#   kg-e2e-peer   network namespace: a peer web server 10.77.0.3:8080
#   Pods          10.77.0.16-250/24, routes: the /24, 169.254.77.77/32 and 169.254.77.53/32 via
#                 10.77.0.1, nothing else
#   tripwire      nftables table inet kg_e2e_tripwire: drops and counts anything from 10.77.0.0/24
#                 (or coming off kg0/kgh) that would leave by an interface the e2e did not create;
#                 the counters must be 0 at the end
#
# Needs root. Installs the Debian packages it needs when missing (apt-get).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${root}"

state="${E2E_STATE:-/var/lib/kestra-guard-e2e}"
node_name="kg-e2e-node"
host_ip="10.77.0.2"
gw_ip="10.77.0.1"
peer_ip="10.77.0.3"
pod_cidr="10.77.0.0/24"
meta_ip="169.254.77.77"
dns_ip="169.254.77.53"
service_cidr="10.96.0.0/24"
gw_ns="kg-e2e-gw"
peer_ns="kg-e2e-peer"
busybox_image="kestra-guard-e2e.local/busybox:1"
pause_image="kestra-guard-e2e.local/pause:1"
guard_image="${IMAGE:-ghcr.io/kestra-guard/kestra-guard:dev}"
guard_tar="${root}/dist/kestra-guard-image.tar"
sock="${state}/containerd/containerd.sock"

log() { echo "e2e: $(date -u +%H:%M:%S) $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

[[ "$(id -u)" == 0 ]] || die "make e2e needs root (it runs a kubelet, containerd and a CNI bridge)"
[[ -f "${guard_tar}" ]] || die "${guard_tar} is missing: run make image"

# --- packages -----------------------------------------------------------------------------------
need=()
for p in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
  /bin/busybox:busybox-static iptables:iptables ipset:ipset nft:nftables conntrack:conntrack ip:iproute2; do
  bin="${p%%:*}" pkg="${p#*:}"
  if [[ "${bin}" == /* ]]; then [[ -e "${bin}" ]] || need+=("${pkg}"); else command -v "${bin}" >/dev/null || need+=("${pkg}"); fi
done
if ((${#need[@]})); then
  log "installing ${need[*]} with apt-get"
  apt-get update -qq >/dev/null || die "apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]}"
fi
command -v openssl >/dev/null || die "openssl is needed to make the test PKI"

# --- binaries -----------------------------------------------------------------------------------
k8s_dir="$(hack/build-control-plane.sh)"
node_dir="$(hack/e2e/build-node.sh)"

# --- teardown -----------------------------------------------------------------------------------
# Everything it removes was recorded when created (pids/, pre/): it stops only processes it started,
# by PID, and deletes only namespaces, tables, sets and folders that did not exist before.
stop_pid() { # name: SIGTERM, up to 20 s, then SIGKILL; only if the PID still runs our command
  local f="${state}/pids/$1" pid
  [[ -f "${f}" ]] || return 0
  pid="$(cat "${f}")"
  if [[ -r "/proc/${pid}/cmdline" ]] && tr '\0' ' ' < "/proc/${pid}/cmdline" | grep -q -- "$(cat "${f}.match")"; then
    kill "${pid}" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.5; done
    kill -9 "${pid}" 2>/dev/null || true
  fi
  rm -f "${f}" "${f}.match"
}

# kept_before RECORD ITEM: whether ITEM existed before the run, by its record under pre/. A missing
# or unreadable record means "keep": teardown never deletes what it cannot prove it created.
kept_before() {
  local f="${state}/pre/$1"
  [[ -r "${f}" ]] || { log "no record ${f}: keeping $2"; return 0; }
  grep -qxF -- "$2" "${f}"
}

# cleanup runs every step whatever the previous one did: no errexit, no pipefail in here (a grep
# that matches nothing must not end the teardown); a failed step logs itself and the next runs.
cleanup() {
  local rc=$?
  set +e +o pipefail
  trap - EXIT INT TERM
  [[ -d "${state}/pids" ]] || exit "${rc}"
  log "tearing down"
  # Pods first, while the kubelet runs, so that CNI releases their addresses and veths.
  if [[ -f "${state}/pids/kubelet" && -f "${state}/admin.kubeconfig" ]]; then
    timeout 90 go run ./hack/e2e/teardown -kubeconfig "${state}/admin.kubeconfig" >&2 || log "deleting Pods through the API failed; removing them below"
  fi
  for p in kube-router kube-scheduler kube-controller-manager kubelet; do stop_pid "${p}"; done
  # Container processes, by the PIDs containerd recorded for them; their shims below.
  local task_dir="${state}/containerd/state/io.containerd.runtime.v2.task/k8s.io"
  if [[ -d "${task_dir}" ]]; then
    for f in "${task_dir}"/*/init.pid; do [[ -f "${f}" ]] && kill -9 "$(cat "${f}")" 2>/dev/null || true; done
  fi
  stop_pid containerd
  # Shims outlive containerd (by design) and their task folders (a Pod's removed containers), so
  # their shim.pid files miss some: every shim that serves our containerd's socket, which names the
  # state folder, is ours.
  pkill -9 -f -- "containerd-shim-runc-v2 .*-address ${sock}( |$)" && log "stopped the containerd shims left of this run"
  # Container processes left without a shim (a container being created when the run stopped:
  # `runc init`) live in the kubepods cgroups this run made: kill them, so that those cgroups and
  # the Pod network namespaces (and veths) they hold can go below.
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -d "${h}kubepods" ]] && ! kept_before cgroups "${h}kubepods" || continue
    find "${h}kubepods" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u | while read -r p; do kill -9 "${p}" 2>/dev/null && log "killed container process ${p}, left without its shim"; done
  sleep 1
  for p in kube-apiserver etcd meta-server peer-server; do stop_pid "${p}"; done
  # Tripwire verdict before its table goes.
  if nft list table inet kg_e2e_tripwire >/dev/null 2>&1; then
    local hits
    hits="$(nft list table inet kg_e2e_tripwire | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | awk '{n += $1} END {print n + 0}')"
    if [[ "${hits:-0}" != 0 ]]; then
      log "TRIPWIRE: ${hits} packet(s) from the test network tried to leave by the uplink"
      nft list table inet kg_e2e_tripwire >&2
      rc=1
    else
      log "tripwire: 0 packets from the test network left by an interface the e2e did not create"
    fi
    nft delete table inet kg_e2e_tripwire
  fi
  for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding; do
    if [[ "$(sysctl -n "${k}")" != "$(cat "${state}/pre/${k}" 2>/dev/null || echo 0)" ]]; then
      log "${k} was changed during the run: $(sysctl -n "${k}"); restoring"
      sysctl -qw "${k}=$(cat "${state}/pre/${k}" 2>/dev/null || echo 0)" || log "restoring ${k} failed"
      rc=1
    fi
  done
  # Network namespaces containerd made for Pods, then ours, then our links.
  for ns in $(ip netns list | awk '{print $1}'); do
    if [[ "${ns}" == cni-* ]] && ! kept_before netns "${ns}"; then ip netns delete "${ns}" || log "deleting netns ${ns} failed"; fi
  done
  for ns in "${gw_ns}" "${peer_ns}"; do ip netns delete "${ns}" 2>/dev/null || true; done
  for l in kgh kg0; do ip link delete "${l}" 2>/dev/null || true; done
  # Mounts under the state folder (containerd snapshots, kubelet volumes), deepest first.
  awk -v s="${state}" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "${m}" || true; done
  # iptables (kube-router, kubelet): whole tables that did not exist before, else our chains only.
  local fam tbl
  nft list tables | while read -r _ fam tbl; do
    [[ "${fam}" == ip || "${fam}" == ip6 ]] || continue
    if ! kept_before nft-tables "table ${fam} ${tbl}"; then
      nft delete table "${fam}" "${tbl}" || log "deleting nft table ${fam} ${tbl} failed"
    else
      local ipt=iptables; [[ "${fam}" == ip6 ]] && ipt=ip6tables
      "${ipt}-save" -t "${tbl}" | grep -E '^-A .*-j (KUBE-|kube-router)' | sed 's/^-A/-D/' | while read -r rule; do
        eval "${ipt} -t ${tbl} ${rule}" || true
      done
      "${ipt}-save" -t "${tbl}" | sed -n 's/^:\(KUBE-[^ ]*\|kube-router[^ ]*\) .*/\1/p' | while read -r c; do
        "${ipt}" -t "${tbl}" -F "${c}" 2>/dev/null || true
      done
      "${ipt}-save" -t "${tbl}" | sed -n 's/^:\(KUBE-[^ ]*\|kube-router[^ ]*\) .*/\1/p' | while read -r c; do
        "${ipt}" -t "${tbl}" -X "${c}" 2>/dev/null || true
      done
    fi
  done
  for s in $(ipset list -n 2>/dev/null); do
    kept_before ipsets "${s}" || ipset destroy "${s}" 2>/dev/null || log "destroying ipset ${s} failed"
  done
  # Pod cgroups (cgroup v1: one tree per controller), deepest first.
  for h in /sys/fs/cgroup/*/; do
    [[ -d "${h}kubepods" ]] && ! kept_before cgroups "${h}kubepods" || continue
    find "${h}kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  for d in /var/lib/cni /var/log/pods /var/log/containers /run/containerd /var/lib/kubelet; do
    if [[ -e "${d}" ]] && ! kept_before paths "${d}"; then rm -rf "${d}" || log "removing ${d} failed"; fi
  done
  # Refuse to delete anything still mounted.
  if awk -v s="${state}" 'index($5, s) == 1 {found=1} END {exit !found}' /proc/self/mountinfo; then
    log "mounts remain under ${state}; leaving it"; rc=1
  else
    rm -rf "${state}"
  fi
  log "teardown done"
  exit "${rc}"
}

if [[ -d "${state}/pids" ]]; then
  log "a previous run left ${state}: cleaning it first"
  (cleanup) || true
fi
mkdir -p "${state}"/{pids,pre,logs,pki,cni/net.d,cni/ipam,containerd,images,www/metadata,www/peer}
trap cleanup EXIT
trap 'exit 130' INT TERM

# What existed before, so that teardown removes only what this run made.
ip netns list | awk '{print $1}' > "${state}/pre/netns"
nft list tables > "${state}/pre/nft-tables"
ipset list -n > "${state}/pre/ipsets" 2>/dev/null || true
for h in /sys/fs/cgroup/*/; do [[ -d "${h}kubepods" ]] && echo "${h}kubepods"; done > "${state}/pre/cgroups" || true
for d in /var/lib/cni /var/log/pods /var/log/containers /run/containerd /var/lib/kubelet; do [[ -e "${d}" ]] && echo "${d}"; done > "${state}/pre/paths" || true
for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding; do sysctl -n "${k}" > "${state}/pre/${k}"; done
[[ "$(cat "${state}/pre/net.ipv4.ip_forward")" == 0 ]] || die "net.ipv4.ip_forward is 1 on this machine: the e2e needs a root namespace that does not route"
for l in kg0 kgh; do ! ip link show "${l}" >/dev/null 2>&1 || die "interface ${l} exists already"; done

start() { # name match command...: runs command in the background, output in logs/name.log
  local name="$1" match="$2"; shift 2
  "$@" > "${state}/logs/${name}.log" 2>&1 &
  echo $! > "${state}/pids/${name}"
  echo "${match}" > "${state}/pids/${name}.match"
}

wait_for() { # what seconds command...
  local what="$1" secs="$2"; shift 2
  for _ in $(seq 1 $((secs * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "${what} not ready after ${secs}s (logs in ${state}/logs)"
}

# --- network ------------------------------------------------------------------------------------
log "network: bridge kg0, namespaces ${gw_ns} (gateway, fake metadata ${meta_ip}) and ${peer_ns} (peer ${peer_ip})"
uplinks="$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -vx lo | paste -sd, )"
nft -f - <<EOF
table inet kg_e2e_tripwire {
  chain forward {
    type filter hook forward priority -300;
    oifname != { "lo", "kg0", "kgh" } ip saddr ${pod_cidr} counter drop
    iifname { "kg0", "kgh" } oifname != { "kg0", "kgh" } counter drop
  }
  chain output {
    type filter hook output priority -300;
    oifname != { "lo", "kg0", "kgh" } ip saddr ${pod_cidr} counter drop
    oifname != { "lo", "kg0", "kgh" } ip daddr ${pod_cidr} counter drop
    oifname != { "lo", "kg0", "kgh" } ip daddr ${meta_ip} counter drop
    oifname != { "lo", "kg0", "kgh" } ip daddr ${dns_ip} counter drop
  }
}
EOF
log "tripwire on interfaces the e2e did not create (${uplinks})"
ip link add kg0 type bridge
ip link set kg0 up
ip link add kgh type veth peer name kgh-br
ip link set kgh-br master kg0 up
ip addr add "${host_ip}/24" dev kgh
ip link set kgh up
for ns in "${gw_ns}" "${peer_ns}"; do
  ip netns add "${ns}"
  ip -n "${ns}" link set lo up
  ip netns exec "${ns}" sysctl -qw net.ipv4.ip_forward=0
done
ip link add kgw-br type veth peer name eth0 netns "${gw_ns}"
ip link set kgw-br master kg0 up
ip -n "${gw_ns}" addr add "${gw_ip}/24" dev eth0
ip -n "${gw_ns}" link set eth0 up
ip -n "${gw_ns}" addr add "${meta_ip}/32" dev lo
ip -n "${gw_ns}" addr add "${dns_ip}/32" dev lo
ip link add kgp-br type veth peer name eth0 netns "${peer_ns}"
ip link set kgp-br master kg0 up
ip -n "${peer_ns}" addr add "${peer_ip}/24" dev eth0
ip -n "${peer_ns}" link set eth0 up
echo "fake-metadata-secret" > "${state}/www/metadata/index.html"
echo "peer-ok" > "${state}/www/peer/index.html"
start meta-server "httpd -f -p ${meta_ip}:80" ip netns exec "${gw_ns}" busybox httpd -f -p "${meta_ip}:80" -h "${state}/www/metadata"
start peer-server "httpd -f -p ${peer_ip}:8080" ip netns exec "${peer_ns}" busybox httpd -f -p "${peer_ip}:8080" -h "${state}/www/peer"

# --- PKI ----------------------------------------------------------------------------------------
log "PKI"
pki="${state}/pki"
(
  cd "${pki}"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=kestra-guard-e2e-ca" 2>/dev/null
  cert() { # name subject [sans]
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    if [[ -n "${3:-}" ]]; then printf 'subjectAltName=%s\n' "$3" > "$1.ext"; else : > "$1.ext"; fi
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  }
  cert apiserver "/CN=kube-apiserver" "IP:${host_ip},IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin "/O=system:masters/CN=e2e-admin"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)
cat > "${state}/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "https://${host_ip}:6443", certificate-authority: "${pki}/ca.crt"}
users:
- name: admin
  user: {client-certificate: "${pki}/admin.crt", client-key: "${pki}/admin.key"}
contexts:
- name: e2e
  context: {cluster: e2e, user: admin}
current-context: e2e
EOF

# --- control plane ------------------------------------------------------------------------------
# Fixed ports below the ephemeral range, so that no envtest control plane running beside it collides.
etcd_port=12379 peer_port=12380
log "etcd on 127.0.0.1:${etcd_port}"
start etcd "${state}/etcd" "${k8s_dir}/etcd" --data-dir "${state}/etcd" --name e2e \
  --listen-client-urls "http://127.0.0.1:${etcd_port}" --advertise-client-urls "http://127.0.0.1:${etcd_port}" \
  --listen-peer-urls "http://127.0.0.1:${peer_port}" --initial-advertise-peer-urls "http://127.0.0.1:${peer_port}" \
  --initial-cluster "e2e=http://127.0.0.1:${peer_port}" --unsafe-no-fsync
log "kube-apiserver on ${host_ip}:6443 (default admission plugins)"
start kube-apiserver "${pki}/apiserver.crt" "${k8s_dir}/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:${etcd_port}" \
  --bind-address "${host_ip}" --advertise-address "${host_ip}" --secure-port 6443 \
  --tls-cert-file "${pki}/apiserver.crt" --tls-private-key-file "${pki}/apiserver.key" --client-ca-file "${pki}/ca.crt" \
  --service-account-key-file "${pki}/sa.pub" --service-account-signing-key-file "${pki}/sa.key" \
  --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
  --service-cluster-ip-range "${service_cidr}" --authorization-mode Node,RBAC --allow-privileged=true \
  --enable-aggregator-routing=true --endpoint-reconciler-type=none --kubelet-preferred-address-types=InternalIP \
  --kubelet-client-certificate "${pki}/apiserver-kubelet-client.crt" --kubelet-client-key "${pki}/apiserver-kubelet-client.key" \
  --profiling=false
wait_for kube-apiserver 90 curl -sf --cacert "${pki}/ca.crt" --cert "${pki}/admin.crt" --key "${pki}/admin.key" "https://${host_ip}:6443/readyz"
log "kube-controller-manager and kube-scheduler"
start kube-controller-manager "${node_dir}/kube-controller-manager" "${node_dir}/kube-controller-manager" \
  --kubeconfig "${state}/admin.kubeconfig" --authentication-kubeconfig "${state}/admin.kubeconfig" \
  --authorization-kubeconfig "${state}/admin.kubeconfig" --bind-address 127.0.0.1 --secure-port 0 \
  --leader-elect=false --service-account-private-key-file "${pki}/sa.key" --root-ca-file "${pki}/ca.crt" \
  --use-service-account-credentials=false --allocate-node-cidrs=false --service-cluster-ip-range "${service_cidr}" \
  --controllers '*,-bootstrapsigner,-tokencleaner'
start kube-scheduler "${node_dir}/kube-scheduler" "${node_dir}/kube-scheduler" \
  --kubeconfig "${state}/admin.kubeconfig" --authentication-kubeconfig "${state}/admin.kubeconfig" \
  --authorization-kubeconfig "${state}/admin.kubeconfig" --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false

# --- images -------------------------------------------------------------------------------------
# docker-archive tarballs written by hack/image (the tool `make image` uses) from a directory tree
# each: a static pause, and busybox with its applets; both run as root with PATH=/bin.
image_flags=(-cmd '' -env PATH=/bin -user '' -workdir '')
rm -rf "${state}/images/pause" "${state}/images/busybox"
mkdir -p "${state}/images/pause" "${state}/images/busybox/bin" "${state}/images/busybox/tmp" "${state}/images/busybox/etc"
cp "${node_dir}/pause" "${state}/images/pause/pause"
go run ./hack/image -rootfs "${state}/images/pause" -tag "${pause_image}" -o "${state}/images/pause.tar" \
  "${image_flags[@]}" -entrypoint /pause >/dev/null || die "writing the pause image"
cp /bin/busybox "${state}/images/busybox/bin/busybox"
for a in $(/bin/busybox --list); do [[ "${a}" == busybox ]] || ln -s busybox "${state}/images/busybox/bin/${a}"; done
chmod 1777 "${state}/images/busybox/tmp"
echo "root:x:0:0:root:/root:/bin/sh" > "${state}/images/busybox/etc/passwd"
echo "root:x:0:" > "${state}/images/busybox/etc/group"
go run ./hack/image -rootfs "${state}/images/busybox" -tag "${busybox_image}" -o "${state}/images/busybox.tar" \
  "${image_flags[@]}" -entrypoint '' >/dev/null || die "writing the busybox image"

# --- containerd and CNI -------------------------------------------------------------------------
cat > "${state}/cni/net.d/10-kg-e2e.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kg-e2e",
  "plugins": [{
    "type": "bridge", "bridge": "kg0", "isGateway": false, "isDefaultGateway": false, "ipMasq": false,
    "ipam": {
      "type": "host-local", "dataDir": "${state}/cni/ipam",
      "ranges": [[{"subnet": "${pod_cidr}", "rangeStart": "10.77.0.16", "rangeEnd": "10.77.0.250", "gateway": "${gw_ip}"}]],
      "routes": [{"dst": "${meta_ip}/32", "gw": "${gw_ip}"}, {"dst": "${dns_ip}/32", "gw": "${gw_ip}"}]
    }
  }]
}
EOF
cat > "${state}/containerd/config.toml" <<EOF
version = 2
root = "${state}/containerd/root"
state = "${state}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "${sock}"
[ttrpc]
  address = "${sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${state}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pause_image}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${state}/cni/net.d"
    max_conf_num = 1
EOF
log "containerd"
start containerd "${state}/containerd/config.toml" containerd --config "${state}/containerd/config.toml"
wait_for containerd 30 ctr -a "${sock}" version
for t in "${state}/images/pause.tar" "${state}/images/busybox.tar" "${guard_tar}"; do
  ctr -a "${sock}" -n k8s.io images import "${t}" >/dev/null || die "importing ${t} into containerd"
done

# --- kubelet and kube-router --------------------------------------------------------------------
: > "${state}/resolv.conf"
cat > "${state}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
address: ${host_ip}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
containerRuntimeEndpoint: unix://${sock}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: ${pki}/ca.crt}
authorization: {mode: AlwaysAllow}
resolvConf: ${state}/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi"}
serializeImagePulls: false
registerNode: true
EOF
log "kubelet ${node_name} (${host_ip})"
start kubelet "${state}/kubelet.yaml" "${node_dir}/kubelet" --config "${state}/kubelet.yaml" \
  --kubeconfig "${state}/admin.kubeconfig" --root-dir "${state}/kubelet" --cert-dir "${state}/kubelet/pki" \
  --hostname-override "${node_name}" --node-ip "${host_ip}" --v=1
# kube-router identifies its node by name at start: wait for the kubelet to register it.
api() { curl -sf --cacert "${pki}/ca.crt" --cert "${pki}/admin.crt" --key "${pki}/admin.key" "https://${host_ip}:6443$1"; }
wait_for "node registration" 60 api "/api/v1/nodes/${node_name}"
log "kube-router (firewall only)"
start kube-router "${node_dir}/kube-router" "${node_dir}/kube-router" --kubeconfig "${state}/admin.kubeconfig" \
  --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
  --hostname-override "${node_name}" --health-port 0 --metrics-port 0

alive() { # every process started above still runs
  local f
  for f in "${state}"/pids/*; do
    [[ "${f}" == *.match ]] && continue
    kill -0 "$(cat "${f}")" 2>/dev/null || { log "$(basename "${f}") exited: tail of its log:"; tail -5 "${state}/logs/$(basename "${f}").log" >&2; return 1; }
  done
}
sleep 2
alive || die "a component exited during start-up"
log "running the e2e suite"
export KUBECONFIG="${state}/admin.kubeconfig"
E2E_NODE="${node_name}" E2E_API_HOST="${host_ip}" E2E_META_IP="${meta_ip}" E2E_PEER_IP="${peer_ip}" \
  E2E_DNS_IP="${dns_ip}" E2E_GW_NS="${gw_ns}" E2E_STATE="${state}" \
  E2E_GATEWAY_IP="${gw_ip}" E2E_BUSYBOX_IMAGE="${busybox_image}" E2E_GUARD_IMAGE="${guard_image}" \
  E2E_GUARD_BIN="${root}/bin/kestra-guard" E2E_LOGS="${state}/logs" \
  go test -tags e2e -count=1 -timeout 20m ${E2E_GOTEST_FLAGS:--v} ./test/e2e/ 2>&1 | tee "${state}/logs/go-test.log" \
  || { mkdir -p dist/e2e-logs/pods && cp "${state}"/logs/*.log dist/e2e-logs/ 2>/dev/null
       # kestra-guard's own containers, as the kubelet wrote them (gone after teardown).
       cp -r /var/log/pods/kestra-guard_* dist/e2e-logs/pods/ 2>/dev/null || true
       die "e2e suite failed (logs of every component and of kestra-guard's Pods copied to dist/e2e-logs/)"; }
alive || die "a component exited during the suite"
log "e2e suite passed"
