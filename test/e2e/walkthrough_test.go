//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// walkthrough returns the shell block of README.md between its walkthrough markers.
func walkthrough(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(suite.repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- walkthrough:begin -->")
	block, _, ok2 := strings.Cut(rest, "<!-- walkthrough:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no <!-- walkthrough:begin --> ... <!-- walkthrough:end --> block")
	}
	m := regexp.MustCompile("(?s)^\\s*```(?:sh|bash)\\n(.*?)```\\s*$").FindStringSubmatch(block)
	if m == nil {
		t.Fatalf("the walk-through block of README.md is not one ```sh fence:\n%s", block)
	}
	return m[1]
}

func TestReadmeWalkthroughRunsWordForWordAgainstAFreshStack(t *testing.T) {
	requireTools(t, "aws", "kubectl", "bash")
	t.Parallel()
	script := filepath.Join(t.TempDir(), "walkthrough.sh")
	if err := os.WriteFile(script, []byte(walkthrough(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	// A fresh stack with the default simulated boot time: what `make run` gives.
	dir := t.TempDir()
	s, err := startStack(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.stopOnCleanup(t)

	// The walk-through sources .koala/env itself: it gets nothing of the stack's
	// settings from the test.
	r := runIn(t, dir, suite.baseEnv, "", "bash", "-euo", "pipefail", script)
	if r.code != 0 {
		t.Fatalf("the walk-through failed: %v", r)
	}
	out := r.stdout
	lines := strings.Split(out, "\n")
	expectLine := func(what, pattern string) []string {
		t.Helper()
		re := regexp.MustCompile("^" + pattern + "$")
		for _, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		t.Errorf("the walk-through printed no line with %s (/%s/); it printed:\n%s", what, pattern, out)
		return nil
	}

	expectLine("the shipped image, available", `ami-[0-9a-f]{17}\t`+imageName+`\tavailable`)
	if pem, err := os.ReadFile(filepath.Join(dir, "demo.pem")); err != nil || !strings.HasPrefix(string(pem), "-----BEGIN ") {
		t.Errorf("demo.pem does not hold a private key (%v):\n%.60s", err, pem)
	}
	if fi, err := os.Stat(filepath.Join(dir, "demo.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("demo.pem: %v, mode %v, want 0600", err, fi)
	}
	web := expectLine("the launched instance running, with its type, address and zone",
		`(`+instanceIDRe+`)\trunning\tt3\.micro\t\d+\.\d+\.\d+\.\d+\tkoala-1[ab]`)
	expectLine("kubectl's Instance created", `instance\.cloud\.koala\.dev/db created`)
	expectLine("kubectl wait's condition met", `instance\.cloud\.koala\.dev/db condition met`)
	expectLine("the Instance applied with kubectl running as a t3.small", instanceIDRe+`\trunning\tt3\.small`)
	expectLine("kubectl's Instance deleted", `instance\.cloud\.koala\.dev "db" deleted`)
	for _, state := range []string{`"Name": "stopping"`, `"Name": "pending"`, `"Name": "shutting-down"`} {
		if !strings.Contains(out, state) {
			t.Errorf("the walk-through's stop, start and terminate printed no %s:\n%s", state, out)
		}
	}
	if web == nil {
		return
	}
	id := web[1]

	// The first `kubectl get instances` shows the instance running, the last one shows
	// it terminated (and db gone).
	first := kubectlRows(t, strings.SplitN(out, `instance.cloud.koala.dev/db created`, 2)[0])
	if row := first[id]; row["STATE"] != "running" || row["TYPE"] != "t3.micro" {
		t.Errorf("the first kubectl get instances shows %s as %v, want running t3.micro:\n%s", id, row, out)
	}
	_, final, _ := strings.Cut(out, `instance.cloud.koala.dev "db" deleted`)
	last := kubectlRows(t, final)
	if row := last[id]; row["STATE"] != "terminated" || row["TYPE"] != "t3.micro" || len(last) != 1 {
		t.Errorf("the final kubectl get instances shows %v, want only %s, terminated:\n%s", last, id, final)
	}
}

// kubectlRows reads the last table that `kubectl get instances` printed in out (a
// header line starting with NAME, then rows) into rows by ID, each a map from column
// to value.
func kubectlRows(t *testing.T, out string) map[string]map[string]string {
	t.Helper()
	lines := strings.Split(out, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "NAME ") {
			start = i
		}
	}
	if start < 0 {
		t.Errorf("no kubectl get table in:\n%s", out)
		return nil
	}
	header := strings.Fields(lines[start])
	rows := map[string]map[string]string{}
	for _, l := range lines[start+1:] {
		cells := columns(lines[start], l)
		if cells == nil {
			break
		}
		row := map[string]string{}
		for i, h := range header {
			row[h] = cells[i]
		}
		rows[row["ID"]] = row
	}
	return rows
}

// columns cuts a kubectl table row at its header's column starts (cells may be empty,
// as IP is for a stopped instance). It returns nil for a line that is not a row.
func columns(header, line string) []string {
	if !regexp.MustCompile(`^[a-z0-9]`).MatchString(line) {
		return nil
	}
	var starts []int
	for i := range header {
		if header[i] != ' ' && (i == 0 || header[i-1] == ' ') {
			starts = append(starts, i)
		}
	}
	cells := make([]string, len(starts))
	for i, s := range starts {
		end := len(line)
		if i+1 < len(starts) && starts[i+1] < end {
			end = starts[i+1]
		}
		if s < len(line) {
			cells[i] = strings.TrimSpace(line[s:end])
		}
	}
	return cells
}
