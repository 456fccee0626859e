// Package memlimit gives the Go runtime a soft memory limit below the container's, so
// that as a process's heap nears the limit the garbage collector works harder instead
// of the kernel killing the process. The operator's cache grows with the number of
// instances; without a soft limit the collector lets the heap reach twice what is live.
// For the same reason the operator also collects sooner than Go's default (see
// CacheGCPercent).
package memlimit

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// EnvVar names the environment variable that holds the container's memory limit in
// bytes: the Helm chart fills it from the container's limits.memory.
const EnvVar = "KOALA_MEMORY_LIMIT"

// fraction of the container's limit that the Go runtime may use: the rest is slack for
// what the runtime does not count and for the moment a collection takes.
const fraction = 0.9

// Limit is the soft limit for the environment: fraction of EnvVar's bytes, or 0 when
// EnvVar is unset or when GOMEMLIMIT is set (the runtime has read that itself, and an
// operator who sets it means it).
func Limit(getenv func(string) string) (int64, error) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	v := strings.TrimSpace(getenv(EnvVar))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q is not a number of bytes", EnvVar, v)
	}
	return int64(math.Floor(float64(n) * fraction)), nil
}

// Apply sets the runtime's soft memory limit from the environment (see Limit) and
// returns the limit it set, 0 for none.
func Apply(getenv func(string) string) (int64, error) {
	limit, err := Limit(getenv)
	if err != nil || limit == 0 {
		return 0, err
	}
	debug.SetMemoryLimit(limit)
	return limit, nil
}

// CacheGCPercent is the collector's target for a process whose heap is mostly a
// long-lived cache, as the operator's is: the runtime's default (100) lets the heap
// grow by as much again before it collects, so at 10,000 instances the operator would
// hold as much garbage as cache. 50 costs the collector twice the cycles, a small
// part of an operator's CPU (most of which goes to decoding watch events).
const CacheGCPercent = 50

// ApplyGCPercent sets the collector's target to percent unless GOGC is set (the
// runtime has read that itself, and whoever sets it means it), and returns the target
// in force.
func ApplyGCPercent(getenv func(string) string, percent int) int {
	if getenv("GOGC") != "" {
		// SetGCPercent is the runtime's only reader of the target: read, then put back.
		current := debug.SetGCPercent(-1)
		debug.SetGCPercent(current)
		return current
	}
	debug.SetGCPercent(percent)
	return percent
}
