// Package audit writes one JSON line per mutating EC2 call: who (account, key), what
// (action, resource IDs), the outcome (EC2 result code), when, from where, and the
// request ID that ties the line to the client's error or response. It never writes a
// request's parameters, so secrets and user data cannot reach it.
package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"sync"
	"time"
)

// Record is one audit line.
type Record struct {
	Time        time.Time `json:"time"`
	Account     string    `json:"account"`
	AccessKeyID string    `json:"accessKeyId"`
	Action      string    `json:"action"`
	Resources   []string  `json:"resources,omitempty"`
	// Result is "OK" or the EC2 error code the call was answered with.
	Result    string `json:"result"`
	RequestID string `json:"requestId"`
	SourceIP  string `json:"sourceIp"`
	DryRun    bool   `json:"dryRun,omitempty"`
}

// Logger writes records to a writer, one line each, whole lines only.
type Logger struct {
	mu sync.Mutex
	w  io.Writer
}

// New writes to w (os.Stdout, a file, ...).
func New(w io.Writer) *Logger { return &Logger{w: w} }

// Log writes the record as one line.
func (l *Logger) Log(r Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding audit record: %w", err)
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(line); err != nil {
		return fmt.Errorf("writing audit record: %w", err)
	}
	return nil
}

// idPattern matches EC2 resource IDs.
var idPattern = regexp.MustCompile(`^(i|r|ami|vol|snap|key|vpc|subnet|sg|sgr|eipalloc|eipassoc|eni)-[0-9a-f]{8,17}$`)

// ResourceIDs returns, sorted and without repeats, the values that are EC2 resource
// IDs among the given ones (a request's parameters and a response's IDs). Anything
// else is dropped, so that no other value can leak into the audit log.
func ResourceIDs(values ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range values {
		if idPattern.MatchString(v) && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}
