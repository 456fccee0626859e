//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// restartWithin is how soon a stack whose control plane is already built must print
// its ready line again.
const restartWithin = 30 * time.Second

func readEnvFile(t *testing.T, s *stack) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.dataDir(), "env"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestRestartInTheSameDirectoryKeepsInstancesKeyPairsAndTheAccessKey(t *testing.T) {
	requireTools(t, "aws", "kubectl")
	t.Parallel()
	s, err := startStack(t.TempDir(), "-sim-start-delay", fastBoot)
	if err != nil {
		t.Fatal(err)
	}
	s.stopOnCleanup(t)
	image := s.imageID(t)
	key := uniqueName("restart")
	s.mustRun(t, "aws", "ec2", "create-key-pair", "--key-name", key)
	id := s.awsText(t, "run-instances", "--image-id", image, "--instance-type", "t3.micro", "--key-name", key,
		"--query", "Instances[0].InstanceId")
	s.waitForState(t, "running", id)
	describeArgs := []string{"describe-instances", "--instance-ids", id, "--output", "json"}
	keyArgs := []string{"describe-key-pairs", "--key-names", key, "--output", "json"}
	instanceBefore := s.mustRun(t, "aws", append([]string{"ec2"}, describeArgs...)...)
	keyBefore := s.mustRun(t, "aws", append([]string{"ec2"}, keyArgs...)...)
	envBefore := readEnvFile(t, s)

	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	t.Logf("the ready line came back %v after the restart", took.Round(100*time.Millisecond))
	if took > restartWithin {
		t.Errorf("the ready line came back %v after the restart, want within %v", took, restartWithin)
	}

	if envAfter := readEnvFile(t, s); envAfter != envBefore {
		t.Errorf(".koala/env changed across the restart (the access key must not):\nbefore:\n%s\nafter:\n%s", envBefore, envAfter)
	}
	if after := s.mustRun(t, "aws", append([]string{"ec2"}, describeArgs...)...); after != instanceBefore {
		t.Errorf("describe-instances %s changed across the restart:\nbefore:\n%s\nafter:\n%s", id, instanceBefore, after)
	}
	if after := s.mustRun(t, "aws", append([]string{"ec2"}, keyArgs...)...); after != keyBefore {
		t.Errorf("describe-key-pairs %s changed across the restart:\nbefore:\n%s\nafter:\n%s", key, keyBefore, after)
	}
	if state := s.mustRun(t, "kubectl", "get", "instance", id, "-o", "jsonpath={.status.state}"); state != "running" {
		t.Errorf("after the restart kubectl shows %s %q, want running", id, state)
	}
	// And the restarted stack still launches.
	next := s.awsText(t, "run-instances", "--image-id", image, "--instance-type", "t3.micro", "--query", "Instances[0].InstanceId")
	s.waitForState(t, "running", next)
}

func TestStartingASecondStackInTheSameDirectoryFailsClearlyAndLeavesTheFirstRunning(t *testing.T) {
	requireTools(t, "aws", "kubectl")
	t.Parallel()
	s := suite.shared
	envBefore := readEnvFile(t, s)
	pids := controlPlanePIDs(s.dataDir())
	if len(pids) != 3 {
		t.Fatalf("the running stack has %d etcd/kube-apiserver/kube-controller-manager processes, want 3: %v", len(pids), controlPlaneProcesses(s.dataDir()))
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	r := runIn(t, s.dir, append(append([]string{}, suite.baseEnv...), "KUBEBUILDER_ASSETS="+suite.assets), "",
		suite.binary, "-listen", fmt.Sprintf("127.0.0.1:%d", port))
	took := time.Since(began)
	if r.code == 0 {
		t.Errorf("a second stack in the directory of a running one exited 0: %v", r)
	}
	if !strings.Contains(r.stderr, "another Koala local stack is running with "+s.dataDir()) {
		t.Errorf("a second stack's error does not say that another stack runs with %s: %v", s.dataDir(), r)
	}
	if strings.Contains(r.stdout+r.stderr, readyLine) {
		t.Errorf("a second stack printed %q: %v", readyLine, r)
	}
	if took > 10*time.Second {
		t.Errorf("a second stack took %v to fail, want a prompt failure", took)
	}

	// The first is unharmed: same processes, same env file, still answering.
	select {
	case <-s.exited:
		t.Fatalf("the first stack exited (%v):\n%s", s.state, s.out)
	default:
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Errorf("the first stack's process %d is gone: %v", pid, err)
		}
	}
	if envAfter := readEnvFile(t, s); envAfter != envBefore {
		t.Errorf("a second stack changed .koala/env:\nbefore:\n%s\nafter:\n%s", envBefore, envAfter)
	}
	s.awsText(t, "describe-instances", "--query", "Reservations[].Instances[].InstanceId")
	s.mustRun(t, "kubectl", "get", "instances")
}

func TestStartAfterAKilledStackStopsWhatItLeftRunningAndKeepsTheData(t *testing.T) {
	requireTools(t, "aws")
	t.Parallel()
	s, err := startStack(t.TempDir(), "-sim-start-delay", fastBoot)
	if err != nil {
		t.Fatal(err)
	}
	s.stopOnCleanup(t)
	key := uniqueName("killed")
	fingerprint := s.awsText(t, "create-key-pair", "--key-name", key, "--query", "KeyFingerprint")

	// kill -9 leaves etcd, kube-apiserver and kube-controller-manager running, and the
	// lock file in place.
	s.kill()
	left := controlPlanePIDs(s.dataDir())
	t.Logf("kill -9 of koala-local left %d processes: %v", len(left), controlPlaneProcesses(s.dataDir()))

	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range left {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("process %d of the killed stack still runs after the next start", pid)
		}
	}
	if got := s.awsText(t, "describe-key-pairs", "--key-names", key, "--query", "KeyPairs[0].KeyFingerprint"); got != fingerprint {
		t.Errorf("after a kill -9 and a start, key pair %s has fingerprint %q, want %q", key, got, fingerprint)
	}
}

func TestInterruptWhileStartingOrRightAfterTheReadyLineStopsPromptlyAndCleanly(t *testing.T) {
	t.Parallel()
	// stop checks exit status 0, the stopped line and that nothing is left running.
	t.Run("right after the ready line, first start and restart", func(t *testing.T) {
		s, err := startStack(t.TempDir(), "-sim-start-delay", fastBoot)
		if err != nil {
			t.Fatal(err)
		}
		s.stopOnCleanup(t)
		// A restart is ready sooner (its image is there already), before the operator
		// and the simulator have started watching: the window where a stop once hung.
		for _, run := range []string{"first start", "restart"} {
			if run == "restart" {
				if err := s.start(); err != nil {
					t.Fatal(err)
				}
			}
			began := time.Now()
			if err := s.stop(); err != nil {
				t.Fatalf("%s: %v", run, err)
			}
			if took := time.Since(began); took > 10*time.Second {
				t.Errorf("%s: the stack took %v to stop after SIGINT, want a few seconds", run, took)
			}
		}
	})
	t.Run("while it starts, once etcd and kube-apiserver run", func(t *testing.T) {
		s, err := newStack(t.TempDir(), "-sim-start-delay", fastBoot)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.launch(); err != nil {
			t.Fatal(err)
		}
		s.stopOnCleanup(t)
		deadline := time.Now().Add(readyTimeout)
		for len(controlPlanePIDs(s.dataDir())) < 2 {
			select {
			case <-s.exited:
				t.Fatalf("koala-local exited (%v) while starting:\n%s", s.state, s.out)
			default:
			}
			if time.Now().After(deadline) {
				s.kill()
				t.Fatalf("etcd and kube-apiserver did not start within %v:\n%s", readyTimeout, s.out)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if s.out.containsLine(readyLine) {
			t.Log("the stack was ready before the test could interrupt it while starting")
		}
		began := time.Now()
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took > 15*time.Second {
			t.Errorf("the stack took %v to stop after SIGINT, want a few seconds", took)
		}
	})
}
