package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
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
	logPath := filepath.Join(dir, "kube-controller-manager.log")
	// The port is free when chosen, but the controller manager binds it a moment
	// later: another process may take it meanwhile (many start on a shared machine).
	// That start fails at once and says so; it is retried on another port.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		err = cm.run(binary, logPath, filepath.Join(dir, "serving", "kube-controller-manager.crt"), port,
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
		if err == nil {
			return cm, nil
		}
		if attempt < 3 && errors.Is(err, errPortTaken) {
			continue
		}
		if cm.tempDir != "" {
			os.RemoveAll(cm.tempDir)
		}
		return nil, err
	}
}

// errPortTaken: the controller manager exited because its port was taken.
var errPortTaken = errors.New("its port was taken")

// run starts the controller manager with args, serving its health check on port with
// the certificate it makes in certFile, and returns once that answers; if it does not,
// the process is stopped.
func (cm *controllerManager) run(binary, logPath, certFile string, port int, args ...string) error {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor

	cm.cmd = exec.Command(binary, args...)
	cm.exited = make(chan struct{})
	cm.cmd.Stdout, cm.cmd.Stderr = logFile, logFile
	// A process group of its own: Ctrl-C in the terminal goes to the stack, which stops
	// the controller manager in order (before the API server), not all at once.
	cm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cm.cmd.Start(); err != nil {
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	exited := cm.exited
	go func() { _ = cm.cmd.Wait(); close(exited) }()

	if err := cm.waitHealthy(port, certFile, time.Minute); err != nil {
		_ = cm.stopProcess()
		if log, rerr := os.ReadFile(logPath); rerr == nil && strings.Contains(string(log), "address already in use") {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return fmt.Errorf("kube-controller-manager did not become healthy (see %s): %w", logPath, err)
	}
	return nil
}

// waitHealthy polls the controller manager's /healthz until it answers 200. Only an
// answer with the serving certificate it wrote to certFile counts: another process
// that took the port (another environment's controller manager, say) must not pass
// for this one.
func (cm *controllerManager) waitHealthy(port int, certFile string, timeout time.Duration) error {
	ours := func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		raw, err := os.ReadFile(certFile)
		if err != nil {
			return err
		}
		block, _ := pem.Decode(raw)
		if block == nil || len(rawCerts) == 0 || !bytes.Equal(block.Bytes, rawCerts[0]) {
			return errors.New("the health check was answered with another certificate than the controller manager's")
		}
		return nil
	}
	// The certificate is self-signed, made at start: it is checked against the file
	// above instead of a CA.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, VerifyPeerCertificate: ours}}} //nolint:gosec // loopback health check, certificate pinned
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

// stop asks the controller manager to stop, and kills it if it has not within 10 s;
// then it removes its temporary directory.
func (cm *controllerManager) stop() error {
	if cm == nil {
		return nil
	}
	defer func() {
		if cm.tempDir != "" {
			os.RemoveAll(cm.tempDir)
		}
	}()
	return cm.stopProcess()
}

// stopProcess asks the process to stop, and kills it if it has not within 10 s.
func (cm *controllerManager) stopProcess() error {
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
