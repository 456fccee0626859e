//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// waitKubectl runs kubectl with args until its output satisfies ok, and returns it.
func (s *stack) waitKubectl(t *testing.T, what string, ok func(result) bool, args ...string) result {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := s.run(t, "", "kubectl", args...)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened; last kubectl %s: %v", what, strings.Join(args, " "), r)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestAnAccountsQuotasAreAResourceQuotaThatKubectlUsersMeetAndDeletingItRemovesItsNamespace(t *testing.T) {
	requireTools(t, "kubectl", "aws")
	t.Parallel()
	s := suite.shared
	name, env := s.newAccount(t, "{addresses: 2, snapshots: 1, instances: 3, volumeGiB: 50}")

	// The operator keeps a ResourceQuota in the account's namespace, and the cluster's
	// resourcequota controller (kube-controller-manager, in the local stack too) counts
	// what it covers: admission enforces only what that controller has computed.
	s.waitKubectl(t, "the account's ResourceQuota counted by the resourcequota controller", func(r result) bool {
		return r.code == 0 && r.stdout == "2 1 3 50Gi 0"
	}, "get", "resourcequota", "koala-account", "-n", name, "-o",
		`jsonpath={.status.hard.count/addresses\.cloud\.koala\.dev} {.status.hard.count/snapshots\.cloud\.koala\.dev} `+
			`{.status.hard.count/virtualmachineinstances\.kubevirt\.io} {.status.hard.requests\.storage} {.status.used.count/addresses\.cloud\.koala\.dev}`)

	// A kubectl user creating Addresses meets the account's limit in the API server.
	address := func(n int) string {
		return fmt.Sprintf("apiVersion: cloud.koala.dev/v1alpha1\nkind: Address\nmetadata:\n  name: eip-%d\n  namespace: %s\nspec: {}\n", n, name)
	}
	for n := 1; n <= 2; n++ {
		if r := s.run(t, address(n), "kubectl", "create", "-f", "-"); r.code != 0 {
			t.Fatalf("address %d of 2 allowed: %v", n, r)
		}
	}
	r := s.run(t, address(3), "kubectl", "create", "-f", "-")
	if r.code == 0 || !strings.Contains(r.stderr, "exceeded quota") || !strings.Contains(r.stderr, "count/addresses.cloud.koala.dev") {
		t.Fatalf("a third address over the quota of 2 was not refused with an exceeded quota message: %v", r)
	}
	// The EC2 endpoint's own count agrees: the account's kubectl snapshot is its one.
	snap := fmt.Sprintf("apiVersion: cloud.koala.dev/v1alpha1\nkind: Snapshot\nmetadata:\n  name: snap-1\n  namespace: %s\nspec:\n  volumeId: vol-0123456789abcdef0\n", name)
	if r := s.run(t, snap, "kubectl", "create", "-f", "-"); r.code != 0 {
		t.Fatalf("the one snapshot allowed: %v", r)
	}
	snap2 := strings.Replace(snap, "snap-1", "snap-2", 1)
	if r := s.run(t, snap2, "kubectl", "create", "-f", "-"); r.code == 0 || !strings.Contains(r.stderr, "exceeded quota") {
		t.Fatalf("a second snapshot over the quota of 1 was not refused: %v", r)
	}
	vol := runIn(t, s.dir, env, "", "aws", "ec2", "create-volume", "--availability-zone", "koala-1a", "--size", "1", "--query", "VolumeId", "--output", "text")
	if vol.code != 0 {
		t.Fatalf("aws ec2 create-volume: %v", vol)
	}
	volID := strings.TrimSpace(vol.stdout)
	if r := runIn(t, s.dir, env, "", "aws", "ec2", "wait", "volume-available", "--volume-ids", volID); r.code != 0 {
		t.Fatalf("aws ec2 wait volume-available: %v", r)
	}
	r = runIn(t, s.dir, env, "", "aws", "ec2", "create-snapshot", "--volume-id", volID)
	if r.code == 0 || !strings.Contains(r.stderr, "SnapshotLimitExceeded") {
		t.Fatalf("the AWS CLI's snapshot over the quota was not refused with SnapshotLimitExceeded: %v", r)
	}

	// Deleting the Account deletes its namespace, and the namespace controller empties
	// it and lets it go (without one it stays Terminating for ever).
	if r := s.run(t, "", "kubectl", "delete", "account", name, "--wait=false"); r.code != 0 {
		t.Fatalf("kubectl delete account: %v", r)
	}
	s.waitKubectl(t, "the account's namespace gone", func(r result) bool {
		return r.code != 0 && strings.Contains(r.stderr, "NotFound")
	}, "get", "namespace", name)
}
