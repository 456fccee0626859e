// Package operator wires Koala's reconcilers into a controller-runtime manager: the
// one place that lists them, used by cmd/koala-operator and the local stack.
package operator

import (
	"context"
	"fmt"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/koala-dev/koala/controllers"
	"github.com/koala-dev/koala/internal/index"
)

// Config is the operator's configuration.
type Config struct {
	// Region is the region's name; zones default to "<region>a".
	Region string
	// TerminatedRetention is how long terminated instances stay visible.
	TerminatedRetention time.Duration
	// InstanceWorkers bounds concurrent instance reconciles.
	InstanceWorkers int
}

// Setup registers the indexes and reconcilers with mgr.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg Config) error {
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	c := mgr.GetClient()
	reconcilers := []interface{ SetupWithManager(ctrl.Manager) error }{
		&controllers.InstanceReconciler{
			Client:                  c,
			Recorder:                mgr.GetEventRecorder("koala-operator"),
			Clock:                   clock.RealClock{},
			Region:                  cfg.Region,
			TerminatedRetention:     cfg.TerminatedRetention,
			MaxConcurrentReconciles: cfg.InstanceWorkers,
		},
		&controllers.ImageReconciler{Client: c},
		&controllers.KeyPairReconciler{Client: c},
	}
	for _, r := range reconcilers {
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up %T: %w", r, err)
		}
	}
	return nil
}
