//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBoto3WaitersPaginatorClientTokenAndKeyPairsWorkWithLegacyAndStandardRetries(t *testing.T) {
	requireTools(t, "python3")
	if out, err := exec.Command("python3", "-c", "import boto3").CombinedOutput(); err != nil {
		t.Skipf("boto3 is not installed: %v %s", err, out)
	}
	t.Parallel()
	s := suite.shared
	script := filepath.Join(suite.repoRoot, "test", "e2e", "testdata", "boto3_client.py")
	for _, mode := range []string{"legacy", "standard"} {
		t.Run("retries "+mode, func(t *testing.T) {
			r := s.run(t, "", "python3", script, "--prefix", uniqueName("boto3"), "--retry-mode", mode)
			if r.code != 0 || !strings.Contains(r.stdout, "boto3 checks passed") {
				t.Fatalf("testdata/boto3_client.py --retry-mode %s failed: %v", mode, r)
			}
			t.Log(strings.TrimSpace(r.stdout))
		})
	}
}
