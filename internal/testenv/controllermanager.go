package testenv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControllerManagerControllers are the kube-controller-manager controllers the
// environment runs: those that make a bare API server behave as a cluster's does for
// Koala and its users, and that need neither nodes, pods nor a cloud. Without them a
// deleted namespace stays Terminating for ever, owner references never cascade, and a
// ResourceQuota is never enforced (its status, which admission reads, stays empty).
var ControllerManagerControllers = []string{
	"garbage-collector-controller",
	"namespace-controller",
	"resourcequota-controller",
	// A namespace's default ServiceAccount and kube-root-ca.crt ConfigMap, as kubectl
	// users of a real cluster find them.
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	// The account roles aggregate into admin and view.
	"clusterrole-aggregation-controller",
}

// controllerManager is a running kube-controller-manager.
type controllerManager struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	tempDir string // removed on stop; empty when the files live in the data directory
}

// startControllerManager runs kube-controller-manager against env's API server. Its
// files (kubeconfig, serving certificate, log) go to dir, or to a temporary directory
// when dir is empty. It serves its health check on a free loopback port only, and
// returns once that answers.
func startControllerManager(env *envtest.Environment, assets, dir string) (*controllerManager, error) {
	binary := filepath.Join(assets, "kube-controller-manager")
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("kube-controller-manager is not in %s (run hack/build-controlplane.sh): %w", assets, err)
	}
	cm := &controllerManager{exited: make(chan struct{})}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "koala-kcm-")
		if err != nil {
			return nil, err
		}
		dir, cm.tempDir = tmp, tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	fail := func(err error) (*controllerManager, error) {
		if cm.tempDir != "" {
			os.RemoveAll(cm.tempDir)
		}
		return nil, err
	}

	// A user of its own in system:masters: the controllers touch every kind.
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "system:kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail(fmt.Errorf("adding the controller manager's user: %w", err))
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fail(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return fail(err)
	}
	// The service account token controller signs with the key the API server verifies
	// with (envtest made it), and hands out the API server's CA.
	rootCA := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(rootCA, env.Config.CAData, 0o600); err != nil {
		return fail(err)
	}
	saKey := filepath.Join(env.ControlPlane.APIServer.CertDir, "sa-signer.key")
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "kube-controller-manager.log"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fail(err)
	}
	defer logFile.Close() // the child has its own descriptor

	cm.cmd = exec.Command(binary,
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--controllers="+strings.Join(ControllerManagerControllers, ","),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file="+saKey,
		"--root-ca-file="+rootCA,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(dir, "serving"),
		// Tests and the local stack wait on what these controllers do; the defaults
		// (sized for large clusters) would only make them wait longer.
		"--concurrent-namespace-syncs=2",
		"--concurrent-resource-quota-syncs=2",
	)
	cm.cmd.Stdout, cm.cmd.Stderr = logFile, logFile
	// A process group of its own: Ctrl-C in the terminal goes to the stack, which stops
	// the controller manager in order (before the API server), not all at once.
	cm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cm.cmd.Start(); err != nil {
		return fail(fmt.Errorf("starting kube-controller-manager: %w", err))
	}
	go func() { _ = cm.cmd.Wait(); close(cm.exited) }()

	if err := cm.waitHealthy(port, time.Minute); err != nil {
		_ = cm.stop()
		return nil, fmt.Errorf("kube-controller-manager did not become healthy (see %s): %w", logFile.Name(), err)
	}
	return cm, nil
}

// waitHealthy polls the controller manager's /healthz until it answers 200.
func (cm *controllerManager) waitHealthy(port int, timeout time.Duration) error {
	// Its serving certificate is self-signed, made at start: nothing to verify it with.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback health check only
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-cm.exited:
			return errors.New("it exited")
		default:
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("healthz answered %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop asks the controller manager to stop, and kills it if it has not within 10 s.
func (cm *controllerManager) stop() error {
	if cm == nil {
		return nil
	}
	defer func() {
		if cm.tempDir != "" {
			os.RemoveAll(cm.tempDir)
		}
	}()
	_ = cm.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-cm.exited:
		return nil
	case <-ctx.Done():
		_ = cm.cmd.Process.Kill()
		<-cm.exited
		return errors.New("kube-controller-manager did not stop within 10s and was killed")
	}
}

// freePort is a loopback TCP port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
