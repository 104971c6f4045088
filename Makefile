# kestra-guard. `make help` lists the targets.
SHELL := /usr/bin/env bash
GO ?= go
BIN := bin/kestra-guard
PKGS := ./...
IMAGE ?= ghcr.io/kestra-guard/kestra-guard:dev
GOLANGCI_LINT := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# Empty: each fuzz target runs the execution count hack/fuzz/budgets.txt gives it
# (about 10 s here). A duration (FUZZTIME=10m) or a count (5000x) overrides it.
FUZZTIME ?=
# Go minimizes each new interesting input for up to 60 s by default, which
# stalls a short run (0 execs/s); cap it by executions.
FUZZMINIMIZETIME ?= 100x
# A regular expression: fuzz only the targets it matches (default: every one).
FUZZTARGET ?=
# Wall-clock limit of one count-bounded target (go test sets none when fuzzing).
FUZZCEILING ?= 300s
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/kestra-guard/kestra-guard/internal/version.version=$(VERSION) -X github.com/kestra-guard/kestra-guard/internal/version.commit=$(COMMIT)
CYCLONEDX_GOMOD := github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
CONTROLLER_GEN := sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
# The Dockerfile's build flags plus the version stamp: `make build` and `make image` make the same binary.
BUILD_FLAGS := -trimpath -ldflags "-s -w $(LDFLAGS)"

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/kestra-guard (static).
	CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o $(BIN) ./cmd/kestra-guard

.PHONY: image
image: build ## Container image as a docker-archive tarball, without Docker: dist/kestra-guard-image.tar.
	$(GO) run ./hack/image -binary $(BIN) -tag $(IMAGE) -o dist/kestra-guard-image.tar

.PHONY: images
images: ## Release images for linux/amd64 and linux/arm64: dist/kestra-guard-image-<arch>.tar (cross-compiled, same flags).
	@for arch in amd64 arm64; do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build $(BUILD_FLAGS) -o bin/linux-$$arch/kestra-guard ./cmd/kestra-guard || exit 1; \
		$(GO) run ./hack/image -arch $$arch -binary bin/linux-$$arch/kestra-guard -tag $(IMAGE) -o dist/kestra-guard-image-$$arch.tar || exit 1; done

.PHONY: e2e
e2e: control-plane image ## Real node (kubelet, containerd, CNI, kube-router), chart installed, e2e suite (root).
	IMAGE=$(IMAGE) hack/e2e/run.sh

.PHONY: e2e-teardown
e2e-teardown: control-plane image ## Interrupt make e2e at three points; check each time that the machine is as before (root, ~12 min, not in CI).
	IMAGE=$(IMAGE) hack/e2e/teardown-test.sh

.PHONY: control-plane
control-plane: ## Build kube-apiserver and etcd from source into bin/k8s/ (once).
	hack/build-control-plane.sh >/dev/null

.PHONY: test
test: control-plane ## Every test: unit, fuzz seed corpora, chart, integration on the real control plane.
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 30m $(PKGS)

.PHONY: fuzz
fuzz: ## Run every fuzz target of every package: its count in hack/fuzz/budgets.txt, or FUZZTIME (their seeds run in make test).
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZMINIMIZETIME=$(FUZZMINIMIZETIME) FUZZCEILING=$(FUZZCEILING) FUZZTARGET='$(FUZZTARGET)' hack/fuzz.sh

.PHONY: soak
soak: control-plane ## 100,000 admission reviews over TLS: zero errors, flat heap.
	SOAK_REVIEWS=100000 $(GO) test -count=1 -v -run '^TestSoak$$' ./test/integration/

.PHONY: lint
lint: ## go vet and golangci-lint.
	$(GO) vet $(PKGS)
	$(GO) run $(GOLANGCI_LINT) run $(PKGS)

.PHONY: helm-lint
helm-lint: ## Lint the chart with Helm's own linter.
	$(GO) test -count=1 -run 'TestHelmLint|TestChartSchema' ./test/integration/

.PHONY: generate
generate: ## Regenerate the rule table and RuleID enum (policy.Rules), the API's deepcopy and CRD (controller-gen), then config/base.
	$(GO) run ./hack/rulegen
	$(GO) run $(CONTROLLER_GEN) object paths=./internal/apis/... crd:crdVersions=v1 output:crd:artifacts:config=charts/kestra-guard/crds
	$(GO) run ./hack/manifests

.PHONY: manifests
manifests: ## Regenerate config/base (kustomize) from the chart.
	$(GO) run ./hack/manifests

.PHONY: chart-docs
chart-docs: ## Regenerate charts/kestra-guard/README.md from values.yaml (a test fails on drift).
	$(GO) run ./hack/chartdocs

.PHONY: alerts
alerts: ## Unit-test the chart's alerts with promtool test rules (promtool built from its Go module; the first build takes minutes).
	KG_PROMTOOL=1 $(GO) test -count=1 -timeout 30m -run 'TestPrometheusRule|TestAlerts' ./internal/chart/

.PHONY: release
release: ## Cut VERSION=vX.Y.Z: refuses unless CHANGELOG.md's newest section is that version and accounts for every rule; then chart package, images, SBOM in dist/.
	@case "$(VERSION)" in v[0-9]*.[0-9]*.[0-9]*) ;; *) echo "release: give the version to cut: make release VERSION=vX.Y.Z"; exit 1;; esac
	$(GO) run ./hack/changelog -release $(VERSION)
	$(MAKE) --no-print-directory chart-package images sbom VERSION=$(VERSION)

.PHONY: chart-package
chart-package: ## Package the chart with Helm's library into dist/.
	$(GO) run ./hack/chartpackage dist

.PHONY: sbom
sbom: build ## CycloneDX SBOM of bin/kestra-guard (its embedded module list) into dist/ (cyclonedx-gomod).
	@mkdir -p dist
	$(GO) run $(CYCLONEDX_GOMOD) bin -json -version $(VERSION) -output dist/kestra-guard.cdx.json $(BIN)

.PHONY: run
run: control-plane ## Local control plane with kestra-guard installed; runs until Ctrl-C.
	$(GO) run ./hack/local

.PHONY: local-up
local-up: control-plane ## Same as run, in the background; returns when ready.
	@$(MAKE) --no-print-directory local-down >/dev/null
	@mkdir -p .local && rm -f .local/ready && $(GO) build -o bin/local ./hack/local
	@nohup bin/local > .local/log 2>&1 & echo $$! > .local/pid
	@for i in $$(seq 1 120); do [ -f .local/ready ] && break; sleep 1; done; \
		[ -f .local/ready ] || { echo "local-up: not ready, see .local/log"; exit 1; }
	@echo "ready: export KUBECONFIG=$$(cat .local/ready)"

.PHONY: local-down
local-down: ## Stop what local-up started.
	@if [ -f .local/pid ]; then kill $$(cat .local/pid) 2>/dev/null || true; \
		for i in $$(seq 1 30); do kill -0 $$(cat .local/pid) 2>/dev/null || break; sleep 1; done; rm -f .local/pid; fi

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine; not used in CI).
	docker build -t $(IMAGE) .

.PHONY: scale
scale: control-plane ## Cluster-scale cost (issue 26): 10,000 then 100,000 Pods on the real API server, kestra-guard's start, memory, audit and admission; writes BENCHMARKS.md section 5. Not in CI: about 15 min here, kube-apiserver near 5 GB RSS at 100,000 Pods (PODS=500,1000 for a 5-min smoke run).
	$(GO) run ./hack/scale $(if $(PODS),-pods $(PODS))

.PHONY: bench
bench: control-plane ## Benchmarks against PSA, always-allow and CEL; writes BENCHMARKS.md.
	$(GO) run ./hack/bench
