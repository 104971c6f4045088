#!/usr/bin/env bash
# make e2e-teardown: interrupts hack/e2e/run.sh (as Ctrl-C does: SIGINT to its whole process group)
# at three points and checks after each that the machine is as it was before: after containerd and
# the kubelet started, after the suite's first Pod ran, and while the suite's burst of task Pods
# runs. Not in CI's default run (about 12 minutes); needs root and what make e2e needs.
#
# The snapshot covers what run.sh creates: processes it starts, network namespaces, links, nftables
# tables, ipsets, iptables chains, mounts, kubepods cgroups, the folders it may create, and its
# state folder. No errexit: every point runs and reports.
set -u -o pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${root}"
state="${E2E_STATE:-/var/lib/kestra-guard-e2e}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

snapshot() {
  # run.sh's processes name its state folder or bin/node/ on their command line (other sessions'
  # control planes on this machine do not).
  echo "## processes"; pgrep -af -- "${state}|/bin/node/" | grep -v teardown-test | awk '{print $2}' | sort
  echo "## netns"; ip netns list | awk '{print $1}' | sort
  echo "## links"; ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
  echo "## nft"; nft list tables | sort
  echo "## ipsets"; ipset list -n 2>/dev/null | sort
  for t in filter nat mangle raw; do echo "## iptables ${t}"; iptables-save -t "${t}" 2>/dev/null | grep -E '^[:-]' | sed 's/\[[0-9:]*\]//' | sort; done
  echo "## mounts"; awk '{print $5}' /proc/self/mountinfo | grep -E "^(${state}|/var/lib/kubelet|/run/containerd|/var/lib/cni)" | sort
  echo "## cgroups"; for h in /sys/fs/cgroup/*/; do [[ -d "${h}kubepods" ]] && echo "${h}kubepods"; done
  echo "## paths"; for d in /var/lib/cni /var/log/pods /var/log/containers /run/containerd /var/lib/kubelet "${state}"; do [[ -e "${d}" ]] && echo "${d}"; done
  echo "## sysctl"; sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding
}

fails=0
n=0
points=("e2e: .* kubelet kg-e2e-node" "^--- PASS: TestNodeLocalDNS" "^=== RUN   TestFirstInstruction")
for point in "${points[@]}"; do
  n=$((n + 1))
  # POINTS=1,3 runs only those.
  [[ -z "${POINTS:-}" || ",${POINTS}," == *",${n},"* ]] || continue
  snapshot > "${work}/before"
  log="${work}/run-${n}.log"
  setsid hack/e2e/run.sh > "${log}" 2>&1 &
  pid=$!
  reached=""
  for _ in $(seq 1 900); do
    if grep -qE -- "${point}" "${log}"; then reached=1; break; fi
    kill -0 "${pid}" 2>/dev/null || break
    sleep 1
  done
  if [[ -z "${reached}" ]]; then
    echo "teardown-test: point ${n} (${point}) never reached; tail of the run:"; tail -20 "${log}"
    fails=$((fails + 1)); kill -INT -- "-${pid}" 2>/dev/null; wait "${pid}"; continue
  fi
  sleep 5 # let the point's work get under way (Pods starting at point 3)
  echo "teardown-test: point ${n}: interrupting run.sh at \"${point}\""
  kill -INT -- "-${pid}"
  wait "${pid}"
  echo "teardown-test: point ${n}: run.sh exited $?; its last lines:"; tail -4 "${log}" | sed 's/^/  /'
  snapshot > "${work}/after"
  if diff -u "${work}/before" "${work}/after" > "${work}/diff"; then
    echo "teardown-test: point ${n}: the machine is as before"
  else
    echo "teardown-test: point ${n}: the machine differs from before:"; cat "${work}/diff"
    fails=$((fails + 1))
  fi
done
if ((fails)); then echo "teardown-test: ${fails} of ${n} points left the machine changed or were not reached"; exit 1; fi
echo "teardown-test: all ${n} points left the machine as before"
