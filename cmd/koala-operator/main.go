// Command koala-operator runs Koala's reconcilers: Instances become KubeVirt
// VirtualMachines, Images become CDI DataSources, KeyPairs get their IDs. It first
// waits until the CRDs of KubeVirt, CDI, CSI snapshots and Multus are served,
// reporting what is missing instead of crashing.
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/koala-dev/koala/internal/memlimit"
	"github.com/koala-dev/koala/internal/operator"
)

func main() {
	opts := operator.RunOptions{}
	operator.BindFlags(flag.CommandLine, &opts)
	zopts := zap.Options{}
	zopts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zopts)))
	opts.Log = ctrl.Log.WithName("operator")
	if limit, err := memlimit.Apply(os.Getenv); err != nil {
		opts.Log.Error(err, "ignoring the memory limit")
	} else if limit > 0 {
		opts.Log.V(1).Info("soft memory limit", "bytes", limit)
	}
	opts.Log.V(1).Info("garbage collection target", "percent", memlimit.ApplyGCPercent(os.Getenv, memlimit.CacheGCPercent))

	if err := operator.Run(ctrl.SetupSignalHandler(), ctrl.GetConfigOrDie(), opts); err != nil {
		opts.Log.Error(err, "operator stopped")
		fmt.Fprintln(os.Stderr, "koala-operator:", err)
		os.Exit(1)
	}
}
