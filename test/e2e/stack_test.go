//go:build e2e

// Package e2e drives the Koala local stack as its users do: it builds cmd/koala-local,
// starts it in a directory of its own as `make run` would, and points the AWS CLI,
// boto3, aws-sdk-go-v2 and kubectl at it through the .koala/env file the stack writes.
//
//	KUBEBUILDER_ASSETS=$(hack/build-controlplane.sh) go test -count=1 -tags e2e -v ./test/e2e/...
//
// Every client runs with HOME pointing at a temporary directory and without the
// caller's AWS_* and KUBECONFIG variables: the user's ~/.aws and ~/.kube are never read
// or written. The shared stack's directory is removed at the end unless KOALA_E2E_KEEP
// is set.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// What the stack prints for its user; the tests look for these as a user's eye would.
const (
	readyLine   = "koala local stack ready"
	stoppedLine = "koala local stack stopped"
)

const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 60 * time.Second
	// fastBoot is the simulated boot time of the stacks the tests share; the
	// walk-through keeps the default that users get.
	fastBoot = "300ms"
)

// suite holds what TestMain prepares for every test.
var suite struct {
	// repoRoot is the repository's root directory.
	repoRoot string
	// binary is the koala-local built for this run.
	binary string
	// assets is the directory holding kube-apiserver and etcd.
	assets string
	// home is the HOME of every process the tests start.
	home string
	// baseEnv is the caller's environment without KUBECONFIG, AWS_* and PWD, with HOME
	// set to home.
	baseEnv []string
	// shared is the stack that most tests use (with fast simulated boots).
	shared *stack
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) (code int) {
	tmp, err := os.MkdirTemp("", "koala-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() {
		if os.Getenv("KOALA_E2E_KEEP") != "" {
			fmt.Fprintln(os.Stderr, "e2e: KOALA_E2E_KEEP is set: kept", tmp)
			return
		}
		_ = os.RemoveAll(tmp)
	}()
	if err := prepareSuite(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}

	dir := filepath.Join(tmp, "shared")
	if err := os.Mkdir(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	s, err := startStack(dir, "-sim-start-delay", fastBoot)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the shared stack:", err)
		return 1
	}
	suite.shared = s

	code = m.Run()

	if err := s.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the shared stack:", err)
		code = 1
	}
	return code
}

// prepareSuite builds koala-local, finds the control-plane binaries and makes the HOME
// and environment that every process gets.
func prepareSuite(tmp string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	suite.repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(suite.repoRoot, "cmd", "koala-local")); err != nil {
		return fmt.Errorf("not run from test/e2e of the Koala repository: %w", err)
	}

	suite.binary = filepath.Join(tmp, "bin", "koala-local")
	build := exec.Command("go", "build", "-o", suite.binary, "./cmd/koala-local")
	build.Dir = suite.repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building koala-local: %w\n%s", err, out)
	}

	// `make run` and `make test-e2e` set KUBEBUILDER_ASSETS; a bare `go test` builds (or
	// finds) the binaries the same way.
	suite.assets = os.Getenv("KUBEBUILDER_ASSETS")
	if suite.assets == "" {
		cmd := exec.Command(filepath.Join(suite.repoRoot, "hack", "build-controlplane.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("hack/build-controlplane.sh: %w", err)
		}
		suite.assets = strings.TrimSpace(string(out))
	}

	suite.home = filepath.Join(tmp, "home")
	if err := os.Mkdir(suite.home, 0o700); err != nil {
		return err
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "HOME" || name == "KUBECONFIG" || name == "KUBEBUILDER_ASSETS" || name == "PWD" || name == "OLDPWD" || strings.HasPrefix(name, "AWS_") {
			continue
		}
		suite.baseEnv = append(suite.baseEnv, kv)
	}
	suite.baseEnv = append(suite.baseEnv, "HOME="+suite.home)
	return nil
}

// stack is one koala-local process, started in dir as a user would start it.
type stack struct {
	dir    string
	listen string
	args   []string

	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	// state is the process's end, set before exited is closed.
	state *os.ProcessState

	// vars are the settings of .koala/env; env is the environment for clients.
	vars map[string]string
	env  []string
}

// startStack starts koala-local in dir on a free loopback port and waits for its ready
// line. args are added to the command line. Its ports (its own, and those of the etcd,
// kube-apiserver and kube-controller-manager it starts) are free when chosen and bound
// a moment later, while the other tests start stacks of their own: a first start that
// failed because a port was taken meanwhile is tried again on another one.
func startStack(dir string, args ...string) (*stack, error) {
	for attempt := 1; ; attempt++ {
		s, err := newStack(dir, args...)
		if err != nil {
			return nil, err
		}
		err = s.start()
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return s, err
		}
	}
}

// newStack prepares a stack in dir on a free loopback port without starting it.
func newStack(dir string, args ...string) (*stack, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &stack{dir: dir, listen: fmt.Sprintf("127.0.0.1:%d", port), args: args}, nil
}

// start runs the stack's process (again) and waits for its ready line.
func (s *stack) start() error {
	if err := s.launch(); err != nil {
		return err
	}
	return s.waitReady()
}

// launch runs the stack's process (again) without waiting for anything.
func (s *stack) launch() error {
	s.out = &syncBuffer{}
	s.exited = make(chan struct{})
	s.state = nil
	s.cmd = exec.Command(suite.binary, append([]string{"-listen", s.listen}, s.args...)...)
	s.cmd.Dir = s.dir
	s.cmd.Env = append(append([]string{}, suite.baseEnv...), "KUBEBUILDER_ASSETS="+suite.assets, "PWD="+s.dir)
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() {
		_ = s.cmd.Wait()
		s.state = s.cmd.ProcessState
		close(s.exited)
	}()
	return nil
}

// waitReady waits for the ready line and reads .koala/env.
func (s *stack) waitReady() error {
	deadline := time.After(readyTimeout)
	for !s.out.containsLine(readyLine) {
		select {
		case <-s.exited:
			killControlPlane(s.dataDir())
			return fmt.Errorf("koala-local exited (%v) before printing %q; its output:\n%s", s.state, readyLine, s.out)
		case <-deadline:
			s.kill()
			killControlPlane(s.dataDir())
			return fmt.Errorf("koala-local did not print %q within %v; its output:\n%s", readyLine, readyTimeout, s.out)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return s.readEnv()
}

// readEnv reads .koala/env into the settings clients get.
func (s *stack) readEnv() error {
	raw, err := os.ReadFile(filepath.Join(s.dir, ".koala", "env"))
	if err != nil {
		return err
	}
	s.vars = parseEnvFile(string(raw))
	for _, name := range []string{"KUBECONFIG", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"} {
		if s.vars[name] == "" {
			return fmt.Errorf(".koala/env sets no %s:\n%s", name, raw)
		}
	}
	s.env = append([]string{}, suite.baseEnv...)
	for name, value := range s.vars {
		s.env = append(s.env, name+"="+value)
	}
	return nil
}

// parseEnvFile reads the `export NAME=value` lines of an env file.
func parseEnvFile(content string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		vars[name] = strings.Trim(value, `"'`)
	}
	return vars
}

// stop interrupts the stack as Ctrl-C would and checks that it stopped cleanly: exit
// status 0, the stopped line, and no etcd or kube-apiserver left on its data.
func (s *stack) stop() error {
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		return fmt.Errorf("interrupting koala-local: %w", err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.kill()
		killControlPlane(s.dataDir())
		return fmt.Errorf("koala-local did not stop within %v of SIGINT; its output:\n%s", stopTimeout, s.out)
	}
	var errs []error
	if !s.state.Success() {
		errs = append(errs, fmt.Errorf("koala-local exited with %v after SIGINT", s.state))
	}
	if !s.out.containsLine(stoppedLine) {
		errs = append(errs, fmt.Errorf("koala-local did not print %q", stoppedLine))
	}
	if left := controlPlaneProcesses(s.dataDir()); len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes left running on %s: %s", s.dataDir(), strings.Join(left, "; ")))
		killControlPlane(s.dataDir())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w\nits output:\n%s", errors.Join(errs...), s.out)
	}
	return nil
}

// kill ends koala-local with SIGKILL, as a crash or `kill -9` would: it has no chance
// to stop etcd and kube-apiserver.
func (s *stack) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// dataDir is the stack's default data directory.
func (s *stack) dataDir() string { return filepath.Join(s.dir, ".koala") }

// stopOnCleanup stops the stack at the end of t and fails t if it does not stop
// cleanly.
func (s *stack) stopOnCleanup(t *testing.T) {
	t.Cleanup(func() {
		select {
		case <-s.exited:
			// Stopped (or killed) by the test itself; kill what it may have left.
			killControlPlane(s.dataDir())
		default:
			if err := s.stop(); err != nil {
				t.Error(err)
			}
		}
	})
}

// controlPlaneProcesses describes the etcd, kube-apiserver and kube-controller-manager
// processes whose command line mentions dataDir.
func controlPlaneProcesses(dataDir string) []string {
	var found []string
	for _, pid := range controlPlanePIDs(dataDir) {
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cmdline := strings.ReplaceAll(string(raw), "\x00", " ")
		if len(cmdline) > 160 {
			cmdline = cmdline[:160] + "..."
		}
		found = append(found, fmt.Sprintf("pid %d: %s", pid, cmdline))
	}
	return found
}

// killControlPlane kills the etcd, kube-apiserver and kube-controller-manager that a
// stack started on dataDir and left behind, so that a failed test does not leave them running.
func killControlPlane(dataDir string) {
	for _, pid := range controlPlanePIDs(dataDir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func controlPlanePIDs(dataDir string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(raw), "\x00", " ")
		if !strings.Contains(cmdline, dataDir+"/") ||
			!(strings.Contains(cmdline, "etcd") || strings.Contains(cmdline, "kube-apiserver") || strings.Contains(cmdline, "kube-controller-manager")) {
			continue
		}
		// A zombie has an empty command line and would not match; a process that is
		// gone by now does not count either.
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil && syscall.Kill(pid, 0) == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// containsLine reports whether a complete line of the output contains s.
func (b *syncBuffer) containsLine(s string) bool {
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return true
		}
	}
	return false
}

// result is what a command did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs a command in the stack's directory with the stack's client environment.
func (s *stack) run(t *testing.T, stdin string, name string, args ...string) result {
	t.Helper()
	return runIn(t, s.dir, s.env, stdin, name, args...)
}

// mustRun is run that fails t unless the command succeeds; it returns stdout.
func (s *stack) mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := s.run(t, "", name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s failed: %v", name, strings.Join(args, " "), r)
	}
	return r.stdout
}

func runIn(t *testing.T, dir string, env []string, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(slices.Clone(env), "PWD="+dir)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("running %s: %v", name, err)
	}
	return r
}

// requireTools skips t when a client it drives is not installed (`make test` uses the
// AWS CLI and boto3 only when the machine has them).
func requireTools(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s is not installed", name)
		}
	}
}
