// Package testenv starts a real kube-apiserver and etcd (built from source by
// hack/build-controlplane.sh) with Koala's CRDs and those of KubeVirt and CDI installed
// (embedded by package config), for integration tests and for the local stack.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/koala-dev/koala/config"
	"github.com/koala-dev/koala/internal/scheme"
)

// RepoRoot finds the repository's root: the nearest directory above the working
// directory that holds hack/build-controlplane.sh.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "build-controlplane.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: not inside the Koala repository (no hack/build-controlplane.sh above the working directory)")
		}
		dir = parent
	}
}

var (
	assetsOnce sync.Once
	assetsDir  string
	assetsErr  error
)

// BinaryAssets returns the directory holding kube-apiserver, kube-controller-manager
// and etcd: KUBEBUILDER_ASSETS
// when set, else the cache that hack/build-controlplane.sh fills (building it the first
// time, which takes minutes).
func BinaryAssets() (string, error) {
	assetsOnce.Do(func() {
		if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
			assetsDir = dir
			return
		}
		root, err := RepoRoot()
		if err != nil {
			assetsErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "hack", "build-controlplane.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			assetsErr = fmt.Errorf("building the control plane: %w", err)
			return
		}
		assetsDir = strings.TrimSpace(string(out))
	})
	return assetsDir, assetsErr
}

// Environment is a running API server.
type Environment struct {
	env    *envtest.Environment
	cm     *controllerManager
	Config *rest.Config
	Scheme *runtime.Scheme
}

// Options tune Start.
type Options struct {
	// DataDir keeps etcd's data (in DataDir/etcd) and the API server's certificates
	// (in DataDir/apiserver) there, and keeps them after Stop; empty uses temporary
	// directories that Stop removes.
	DataDir string
	// ControllerManager also runs kube-controller-manager with the controllers in
	// ControllerManagerControllers (garbage collection, namespace deletion, resource
	// quotas, ...), as a cluster has them. Its files go to DataDir/controller-manager.
	ControllerManager bool
}

// Start runs etcd and kube-apiserver (and, if asked, kube-controller-manager) and
// installs the CRDs.
func Start(opts Options) (*Environment, error) {
	assets, err := BinaryAssets()
	if err != nil {
		return nil, err
	}
	s := scheme.New()
	crds, err := config.CRDs()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDs:                  crds,
		Scheme:                s,
	}
	if opts.DataDir != "" {
		for _, d := range []string{"etcd", "apiserver"} {
			if err := os.MkdirAll(filepath.Join(opts.DataDir, d), 0o700); err != nil {
				return nil, err
			}
		}
		env.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(opts.DataDir, "etcd")}
		// envtest turns fsync off (right for throw-away test data); data kept across
		// runs must survive a crash of the machine too.
		env.ControlPlane.Etcd.Configure().Set("unsafe-no-fsync", "false")
		env.ControlPlane.APIServer = &envtest.APIServer{CertDir: filepath.Join(opts.DataDir, "apiserver")}
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	// Tests create many objects quickly; the default client limits (5 qps) would make
	// them measure client-side throttling.
	cfg.QPS, cfg.Burst = 500, 1000
	e := &Environment{env: env, Config: cfg, Scheme: s}
	if opts.ControllerManager {
		dir := ""
		if opts.DataDir != "" {
			dir = filepath.Join(opts.DataDir, "controller-manager")
		}
		if e.cm, err = startControllerManager(env, assets, dir); err != nil {
			return nil, errors.Join(err, env.Stop())
		}
	}
	return e, nil
}

// Stop stops kube-controller-manager (first: the API server stops promptly only once
// its clients have gone), then kube-apiserver and etcd.
func (e *Environment) Stop() error {
	return errors.Join(e.cm.stop(), e.env.Stop())
}

// WriteKubeconfig writes a kubeconfig for an admin user to path.
func (e *Environment) WriteKubeconfig(path, namespace string) error {
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: "koala-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if namespace != "" {
		kc = []byte(strings.Replace(string(kc), "    cluster: envtest\n", "    cluster: envtest\n    namespace: "+namespace+"\n", 1))
	}
	return os.WriteFile(path, kc, 0o600)
}
