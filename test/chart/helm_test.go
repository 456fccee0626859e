// Package chart_test checks the Helm chart (charts/koala): what `helm template`
// renders for a production cluster (restricted pods, least-privilege RBAC generated
// from the code's markers, the values schema), and the rendered chart installed into a
// real API server, where the operator and the EC2 endpoint run with the identities of
// the chart's service accounts through an instance's life and an upgrade.
package chart_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/koala-dev/koala/internal/testenv"
)

const (
	// releaseName and releaseNamespace are the release the tests render and install.
	releaseName      = "koala"
	releaseNamespace = "koala-system"
)

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm returns the helm binary: $HELM (what `make test` passes), else bin/helm, built
// by hack/build-helm.sh when missing (a few minutes, the first time only).
func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv("HELM"); p != "" {
			helmPath = p
			return
		}
		root, err := testenv.RepoRoot()
		if err != nil {
			helmErr = err
			return
		}
		helmPath = filepath.Join(root, "bin", "helm")
		if _, err := os.Stat(helmPath); err == nil {
			return
		}
		cmd := exec.Command(filepath.Join(root, "hack", "build-helm.sh"), helmPath)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			helmErr = fmt.Errorf("building helm: %w", err)
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

// chartDir is the chart in this repository.
func chartDir(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "charts", "koala")
}

// runHelm runs helm with args and returns its standard output; a failure returns
// standard error in the error.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Helm's own configuration and cache stay inside the test.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// rendering is what `helm template` made of the chart: its objects, in order.
type rendering struct {
	objects []*unstructured.Unstructured
}

// render runs `helm template` for the test release with the chart at dir (the
// repository's chart when empty) and extra arguments (-f, --set), CRDs included.
func render(t *testing.T, dir string, args ...string) (*rendering, error) {
	t.Helper()
	if dir == "" {
		dir = chartDir(t)
	}
	out, err := runHelm(t, append([]string{"template", releaseName, dir, "--namespace", releaseNamespace, "--include-crds"}, args...)...)
	if err != nil {
		return nil, err
	}
	objs, err := decodeYAML([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("decoding helm template's output: %w", err)
	}
	return &rendering{objects: objs}, nil
}

// mustRender is render that fails the test.
func mustRender(t *testing.T, args ...string) *rendering {
	t.Helper()
	r, err := render(t, "", args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// decodeYAML splits a multi-document YAML stream into objects, skipping empty ones.
// Numbers decode as the API machinery's do (int64), so unstructured's accessors work.
func decodeYAML(raw []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
}

// ofKind returns the rendered objects of a kind.
func (r *rendering) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// get returns the rendered object of a kind and name, or fails the test.
func (r *rendering) get(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range r.ofKind(kind) {
		if o.GetName() == name {
			return o
		}
	}
	t.Fatalf("the chart renders no %s %s", kind, name)
	return nil
}

// names lists "Kind/name" of every rendered object, sorted.
func (r *rendering) names() []string {
	var out []string
	for _, o := range r.objects {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	sort.Strings(out)
	return out
}

// containerArgs returns the arguments of a Deployment's only container, with the
// environment references ($(POD_NAMESPACE)) the kubelet would expand.
func containerArgs(t *testing.T, deploy *unstructured.Unstructured, env map[string]string) []string {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("%s has %d containers, want 1", deploy.GetName(), len(containers))
	}
	raw, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	ref := regexp.MustCompile(`\$\(([A-Z_]+)\)`)
	out := make([]string, 0, len(raw))
	for _, a := range raw {
		out = append(out, ref.ReplaceAllStringFunc(a, func(m string) string { return env[ref.FindStringSubmatch(m)[1]] }))
	}
	return out
}

// argValue is the value of --name=value in args, and whether it is there.
func argValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}
