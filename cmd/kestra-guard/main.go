package main

import (
	_ "k8s.io/api/core/v1"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {}
