# kestra-guard. `make help` lists the targets.
SHELL := /usr/bin/env bash
GO ?= go
BIN := bin/kestra-guard
PKGS := ./...

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/kestra-guard (static).
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/kestra-guard

.PHONY: control-plane
control-plane: ## Build kube-apiserver and etcd from source into bin/k8s/ (once).
	hack/build-control-plane.sh >/dev/null

.PHONY: test
test: control-plane ## Run every test: unit, fuzz seeds and integration on the real control plane.
	$(GO) vet $(PKGS)
	$(GO) test -count=1 $(PKGS)
