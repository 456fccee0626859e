// Command koala-local runs the Koala local stack in the foreground until Ctrl-C: etcd,
// kube-apiserver and kube-controller-manager, the CRDs, the operator, the EC2 endpoint
// and the KubeVirt simulator. `make run` builds the control plane first and starts it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"go.uber.org/zap/zapcore"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/koala-dev/koala/internal/localstack"
)

func main() {
	opts := localstack.Defaults()
	flag.StringVar(&opts.DataDir, "data-dir", opts.DataDir, "Directory for etcd's data, the kubeconfig and the env file; kept across runs.")
	flag.StringVar(&opts.Listen, "listen", opts.Listen, "Address of the EC2 endpoint.")
	flag.StringVar(&opts.Region, "region", opts.Region, "Region name.")
	flag.DurationVar(&opts.TerminatedRetention, "terminated-retention", opts.TerminatedRetention, "How long terminated instances stay visible.")
	flag.DurationVar(&opts.Simulator.StartDelay, "sim-start-delay", opts.Simulator.StartDelay, "Simulated time for a VM to boot (0: the simulator's default).")
	flag.BoolVar(&opts.ExternalOperator, "external-operator", false, "Do not run the operator in this process: a koala-operator started with the stack's kubeconfig runs it (benchmarks measure it apart).")
	zopts := zap.Options{}
	zopts.BindFlags(flag.CommandLine)
	flag.Parse()
	// Quiet by default: errors only, unless -zap-log-level says otherwise.
	if zopts.Level == nil {
		zopts.Level = zapcore.ErrorLevel
	}
	logger := zap.New(zap.UseFlagOptions(&zopts))
	ctrl.SetLogger(logger)
	opts.Log = logger

	ctx := ctrl.SetupSignalHandler()
	err := localstack.Run(ctx, opts)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Ctrl-C while the stack was starting: a stop that was asked for, not a failure.
		err = nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "koala local stack:", err)
		os.Exit(1)
	}
	fmt.Println("koala local stack stopped")
}
