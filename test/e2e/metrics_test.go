//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	. "github.com/onsi/gomega"
)

// component is a koala-operator or koala-ec2 process run beside a stack started with
// -external-operator, as a cluster runs them: each serves its own /metrics.
type component struct {
	cmd     *exec.Cmd
	out     *syncBuffer
	metrics string
}

// buildComponent builds cmd/<name> and returns the binary's path.
func buildComponent(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("go", "build", "-o", bin, "./cmd/"+name)
	build.Dir = suite.repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	return bin
}

// startComponent runs bin with the stack's kubeconfig and a metrics address of its own.
func startComponent(t *testing.T, s *stack, bin string, args ...string) *component {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c := &component{out: &syncBuffer{}, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port)}
	c.cmd = exec.Command(bin, append([]string{"-metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", port)}, args...)...)
	c.cmd.Env = append(append([]string{}, suite.baseEnv...), "KUBECONFIG="+filepath.Join(s.dataDir(), "kubeconfig"))
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = c.cmd.Process.Kill()
			<-done
		}
	})
	return c
}

// scrape returns the samples of the component's metrics, by series as Prometheus
// prints them (name{label="value",...}).
func (c *component) scrape(g Gomega) map[string]float64 {
	resp, err := http.Get(c.metrics)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

func TestTheEndpointAndOperatorMetricsShowRequestsByActionAndErrorCodeInstancesVolumesAndReconciles(t *testing.T) {
	g := NewWithT(t)
	operatorBin, endpointBin := buildComponent(t, "koala-operator"), buildComponent(t, "koala-ec2")
	dir := t.TempDir()
	s, err := newStack(dir, "-external-operator", "-sim-start-delay", fastBoot)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.launch()).To(Succeed())
	s.stopOnCleanup(t)
	g.Eventually(func() error { _, err := os.Stat(filepath.Join(s.dataDir(), "kubeconfig")); return err }, readyTimeout).Should(Succeed())
	operator := startComponent(t, s, operatorBin, "-health-probe-bind-address", "0", "-status-configmap", "")
	g.Expect(s.waitReady()).To(Succeed(), "the stack needs the external operator to make its access key")
	port, err := freePort()
	g.Expect(err).NotTo(HaveOccurred())
	endpoint := startComponent(t, s, endpointBin, "-listen", fmt.Sprintf("127.0.0.1:%d", port), "-insecure-http", "-audit-log", "")

	s.vars["AWS_ENDPOINT_URL"] = fmt.Sprintf("http://127.0.0.1:%d", port)
	ec2c := s.sdkClient()
	ctx := context.Background()
	var out *ec2.RunInstancesOutput
	g.Eventually(func() error {
		out, err = ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(s.imageID(t)), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		return err
	}, readyTimeout).Should(Succeed(), "koala-ec2 answers once its cache has synced")
	_, err = ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000000a"}})
	var apiErr smithy.APIError
	g.Expect(errors.As(err, &apiErr)).To(BeTrue(), "%v", err)
	g.Expect(apiErr.ErrorCode()).To(Equal("InvalidInstanceID.NotFound"))
	id := aws.ToString(out.Instances[0].InstanceId)
	s.waitForState(t, "running", id)

	// What a dashboard's queries read (README, "Metrics"): requests by action and
	// error code, latency histograms by action.
	ep := endpoint.scrape(g)
	g.Expect(ep).To(HaveKeyWithValue(`koala_ec2_requests_total{action="RunInstances",code="OK"}`, BeNumerically(">=", 1)))
	g.Expect(ep).To(HaveKeyWithValue(`koala_ec2_requests_total{action="DescribeInstances",code="InvalidInstanceID.NotFound"}`, 1.0))
	g.Expect(ep).To(HaveKeyWithValue(`koala_ec2_request_duration_seconds_count{action="RunInstances"}`, BeNumerically(">=", 1)))
	g.Expect(ep).To(HaveKey(`koala_ec2_request_duration_seconds_bucket{action="DescribeInstances",le="0.1"}`))

	// Instances and volumes by account and state, and the reconcilers' errors and
	// durations: the account of .koala/env is the namespace "demo".
	g.Eventually(func(g Gomega) {
		op := operator.scrape(g)
		g.Expect(op).To(HaveKeyWithValue(`koala_instances{namespace="demo",state="running"}`, BeNumerically(">=", 1)))
		g.Expect(op).To(HaveKeyWithValue(`koala_volumes{namespace="demo",state="in-use"}`, BeNumerically(">=", 1)))
		g.Expect(op).To(HaveKey(`controller_runtime_reconcile_errors_total{controller="instance"}`))
		g.Expect(op).To(HaveKeyWithValue(`controller_runtime_reconcile_total{controller="instance",result="success"}`, BeNumerically(">=", 1)))
		g.Expect(op).To(HaveKey(`controller_runtime_reconcile_time_seconds_bucket{controller="instance",le="0.1"}`))
		// The API server's answers to the operator's writes, which its reconciles wait for.
		var writes []float64
		for k, v := range op {
			if strings.HasPrefix(k, "rest_client_request_duration_seconds_count{") && strings.Contains(k, `verb="POST"`) {
				writes = append(writes, v)
			}
		}
		g.Expect(writes).To(ContainElement(BeNumerically(">=", 1)), "the operator's POSTs (its VirtualMachines) timed by verb")
	}, waitFor).Should(Succeed(), "operator output:\n%s", operator.out)
}
