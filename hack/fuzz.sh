#!/usr/bin/env bash
# Runs every fuzz target of every package (found with `go test -list`), one
# after the other. Called by `make fuzz`.
#
# Budget of each target:
#   FUZZTIME empty (the default, and CI): an execution count, -fuzztime Nx, with
#     N read from hack/fuzz/budgets.txt (about 10 s of that target on the
#     project's 2-core machine). A target missing from the table runs for
#     FUZZFALLBACK (default 10s), with a warning to add it.
#   FUZZTIME set (make fuzz FUZZTIME=10m): that budget for every target, as go
#     test reads it (a duration, or a count such as 5000x).
#
# Outcome of each target:
#   exit 0: passed.
#   non-zero, a new file under <package>/testdata/fuzz/<target>/: a crasher.
#     The run fails, and the file is left where it is: committed, it is a seed
#     that `go test` (make test) runs from then on.
#   non-zero, no new file: the target's seeds run alone (go test -run). If
#     they fail (a committed seed that fails, a build error), the run fails
#     at once. If they pass, it is taken for Go 1.26's fuzz coordinator race,
#     which ends a duration-bounded run with a bare "context deadline
#     exceeded" (golang/go#75804); the target is run once more, and the run
#     fails only if that fails too.
#
# Other knobs (environment): FUZZTARGET (a regular expression: run only the
# targets it matches), GO (default go), FUZZMINIMIZETIME (default 100x),
# FUZZCEILING (default 300s: wall-clock limit of one count-bounded attempt, so
# that a stuck target cannot hold CI; go test sets no timeout when fuzzing).
#
# No set -e: every step checks its own status and says what failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}" || exit 1

GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-}"
FUZZMINIMIZETIME="${FUZZMINIMIZETIME:-100x}"
FUZZCEILING="${FUZZCEILING:-300s}"
FUZZFALLBACK="${FUZZFALLBACK:-10s}"
FUZZTARGET="${FUZZTARGET:-}"
budgets="${root}/hack/fuzz/budgets.txt"
race="golang/go#75804"

log() { echo "fuzz: $*" >&2; }

# budget_of REL TARGET prints N from the table ("internal/policy FuzzEvaluate 40000").
budget_of() {
  sed 's/#.*//' "${budgets}" | awk -v p="$1" -v t="$2" '$1 == p && $2 == t { print $3; exit }'
}

# corpus_files DIR lists the files under DIR, sorted (nothing if DIR is absent).
corpus_files() {
  if [[ -d "$1" ]]; then
    find "$1" -type f | LC_ALL=C sort
  fi
}

# Ctrl-C (or a TERM) reaches go test through its timeout, which runs it in
# a process group of its own; then the script stops.
child=""
interrupted=0
on_signal() {
  interrupted=1
  if [[ -n "${child}" ]]; then
    kill -INT "${child}" 2>/dev/null
  fi
}
trap on_signal INT TERM

# attempt PKG TARGET BUDGET CORPUSDIR: one go test run, its output on stderr.
# Returns 0 (passed), 1 (crasher: its paths in the variable crashers),
# 2 (failed, nothing written), 3 (ceiling reached), 4 (interrupted).
crashers=""
attempt() {
  local pkg="$1" target="$2" budget="$3" corpus="$4" before after rc ceiling=0
  crashers=""
  # A duration is its own bound; a count gets the wall-clock ceiling.
  [[ "${budget}" == *x ]] && ceiling="${FUZZCEILING}"
  before="$(corpus_files "${corpus}")"
  # timeout (0: none) puts go, the test binary and its workers in one process
  # group and signals all of them.
  timeout -k 30s "${ceiling}" "${GO}" test "${pkg}" -run '^$' -fuzz "^${target}\$" \
    -fuzztime "${budget}" -fuzzminimizetime "${FUZZMINIMIZETIME}" >&2 &
  child=$!
  wait "${child}"
  rc=$?
  # wait returns early when a signal runs the trap: wait for the real end.
  while kill -0 "${child}" 2>/dev/null; do
    wait "${child}"
    rc=$?
  done
  child=""
  after="$(corpus_files "${corpus}")"
  crashers="$(LC_ALL=C comm -13 <(printf '%s\n' "${before}") <(printf '%s\n' "${after}") | sed '/^$/d')"
  if [[ -n "${crashers}" ]]; then
    return 1
  fi
  if [[ ${interrupted} -eq 1 ]]; then
    return 4
  fi
  if [[ ${rc} -eq 0 ]]; then
    return 0
  fi
  if [[ ${ceiling} != 0 ]] && [[ ${rc} -eq 124 || ${rc} -eq 137 ]]; then
    return 3
  fi
  return 2
}

if [[ -z "${FUZZTIME}" && ! -f "${budgets}" ]]; then
  log "no ${budgets#"${root}"/}: set FUZZTIME or restore the table"
  exit 1
fi

if ! pkgs="$("${GO}" list -f '{{.ImportPath}} {{.Dir}}' ./...)"; then
  log "go list ./... failed"
  exit 1
fi

failed=()
missing=()
summary=()
# The list comes on fd 3: go test and the targets keep stdin.
while read -r pkg dir <&3; do
  [[ -z "${pkg}" ]] && continue
  # Packages without test files list nothing; a build error is a failure.
  if ! targets="$("${GO}" test -list '^Fuzz' "${pkg}")"; then
    log "go test -list failed in ${pkg}"
    failed+=("${pkg} (go test -list)")
    continue
  fi
  rel="${dir#"${root}"/}"
  for target in $(grep '^Fuzz' <<<"${targets}"); do
    if [[ -n "${FUZZTARGET}" && ! "${target}" =~ ${FUZZTARGET} ]]; then
      continue
    fi
    if [[ -n "${FUZZTIME}" ]]; then
      budget="${FUZZTIME}"
    else
      n="$(budget_of "${rel}" "${target}")"
      if [[ "${n}" =~ ^[1-9][0-9]*$ ]]; then
        budget="${n}x"
      else
        budget="${FUZZFALLBACK}"
        log "${rel} ${target} has no execution count in ${budgets#"${root}"/}: it runs for ${budget} (exposed to ${race}); measure it (see the table's header) and add a line \"${rel} ${target} N\""
        missing+=("${rel} ${target}")
      fi
    fi
    corpus="${dir}/testdata/fuzz/${target}"
    result=""
    for try in 1 2; do
      log "${pkg} ${target} -fuzztime ${budget} (attempt ${try})"
      start=${SECONDS}
      attempt "${pkg}" "${target}" "${budget}" "${corpus}"
      status=$?
      took=$((SECONDS - start))
      case ${status} in
        0)
          result="passed in ${took}s"
          [[ ${try} -eq 2 ]] && result="${result} (after the coordinator race)"
          break ;;
        1)
          log "${target} FAILED: reproducer written:"
          while read -r f; do
            log "  ${f#"${root}"/}   re-run: go test ./${rel} -run '^${target}/$(basename "${f}")\$'"
          done <<<"${crashers}"
          log "  fix the code; commit the file to keep it as a seed (README: Fuzzing)"
          result="FAILED: crasher ${crashers//"${root}"\//}"
          result="${result//$'\n'/ }"
          failed+=("${rel} ${target} (crasher)")
          break ;;
        4)
          log "interrupted during ${target}"
          exit 130 ;;
        3)
          log "${target} FAILED: still running after ${FUZZCEILING} (FUZZCEILING); killed"
          result="FAILED: ceiling ${FUZZCEILING} reached"
          failed+=("${rel} ${target} (ceiling)")
          break ;;
        2)
          if [[ ${try} -eq 1 ]]; then
            log "${target} exited non-zero after ${took}s with no new file under ${corpus#"${root}"/}; running its seeds alone (go test -run '^${target}\$') to tell a failing seed from the coordinator race"
            if ! "${GO}" test "${pkg}" -run "^${target}\$" -count 1 >&2; then
              log "${target} FAILED: its seeds (or its build) fail without fuzzing: not the coordinator race; see the output above"
              result="FAILED: a seed or the build fails"
              failed+=("${rel} ${target} (seed or build)")
              break
            fi
            log "  its seeds pass: taken for Go's fuzz coordinator race (${race}, \"context deadline exceeded\"); retrying ${target} once"
            continue
          fi
          log "${target} FAILED again with no reproducer and its seeds passing: not the coordinator race alone; see the output above"
          result="FAILED twice, no reproducer"
          failed+=("${rel} ${target} (failed twice)") ;;
      esac
    done
    summary+=("${rel} ${target}: ${result}")
  done
done 3<<<"${pkgs}"

log "summary:"
for line in "${summary[@]}"; do
  log "  ${line}"
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "no execution count in ${budgets#"${root}"/} (ran ${FUZZFALLBACK}): ${missing[*]}"
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  log "FAILED: ${failed[*]}"
  exit 1
fi
if [[ ${#summary[@]} -eq 0 ]]; then
  log "FAILED: no fuzz target found${FUZZTARGET:+ matching ${FUZZTARGET}}"
  exit 1
fi
log "every target passed (${#summary[@]})"
