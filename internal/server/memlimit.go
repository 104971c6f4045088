package server

import (
	"fmt"
	"strconv"
)

// MemoryLimitEnv names the variable that carries the container's memory
// limit in bytes: the chart sets it from limits.memory through the
// downward API (the node's allocatable memory when no limit is set).
const MemoryLimitEnv = "KESTRA_GUARD_MEMORY_LIMIT"

// SoftMemoryLimit is the Go runtime's soft memory limit for the container's
// limit: 90% of it, so that the collector runs harder as the heap nears the
// limit instead of the kernel killing the process at it. It is 0 (leave the
// runtime alone) when GOMEMLIMIT is set, which the runtime reads itself, or
// when MemoryLimitEnv is unset; an error when MemoryLimitEnv is not a
// positive byte count.
func SoftMemoryLimit(getenv func(string) string) (int64, error) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	v := getenv(MemoryLimitEnv)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("environment variable %s: %q: expected the container's memory limit as a positive number of bytes (the chart sets it from resources.limits.memory)", MemoryLimitEnv, v)
	}
	return n / 10 * 9, nil
}
