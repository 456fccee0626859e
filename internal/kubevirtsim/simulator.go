package kubevirtsim

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// simulator holds what the simulated controllers share.
type simulator struct {
	opts     Options
	client   client.Client // the manager's: cached reads, direct writes
	reader   client.Reader // uncached, for the rare reads that must not be stale
	recorder recorder.EventRecorder
	clock    *phaseClock
	ipam     *ipAllocator
	nodes    *scheduler
}

// controllerOptions are the options of every simulated controller. Their names need
// not be unique in the process: a test may stop a simulator and start another.
func (s *simulator) controllerOptions() controller.Options {
	return controller.Options{MaxConcurrentReconciles: s.opts.MaxConcurrentReconciles, SkipNameValidation: ptrTo(true)}
}

// event records an Event about obj, marked as simulated.
func (s *simulator) event(obj runtime.Object, eventType, reason, action, format string, args ...any) {
	s.recorder.AnnotatedEventf(obj, nil, map[string]string{SimulatedAnnotation: simulatedValue},
		eventType, reason, action, "Simulated: "+format, args...)
}

// markAndFinalize makes sure obj carries the simulated annotation and, when finalizer is
// not empty, that finalizer, with one optimistic-locked patch. It reports whether it
// wrote; obj is updated in place.
func (s *simulator) markAndFinalize(ctx context.Context, obj client.Object, finalizer string) (bool, error) {
	needMark := !isSimulated(obj.GetAnnotations())
	needFinalizer := finalizer != "" && !slices.Contains(obj.GetFinalizers(), finalizer)
	if !needMark && !needFinalizer {
		return false, nil
	}
	base := obj.DeepCopyObject().(client.Object)
	if needMark {
		ann := obj.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[SimulatedAnnotation] = simulatedValue
		obj.SetAnnotations(ann)
	}
	if needFinalizer {
		obj.SetFinalizers(append(obj.GetFinalizers(), finalizer))
	}
	if err := s.client.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("marking %s as simulated: %w", obj.GetName(), err)
	}
	return true, nil
}

// removeFinalizers removes the given finalizers from obj (when present) with one
// optimistic-locked patch.
func (s *simulator) removeFinalizers(ctx context.Context, obj client.Object, finalizers ...string) error {
	kept := slices.DeleteFunc(slices.Clone(obj.GetFinalizers()), func(f string) bool { return slices.Contains(finalizers, f) })
	if len(kept) == len(obj.GetFinalizers()) {
		return nil
	}
	base := obj.DeepCopyObject().(client.Object)
	obj.SetFinalizers(kept)
	if err := s.client.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}

// deleteIgnoringNotFound deletes obj unless it is already being deleted.
func (s *simulator) deleteIgnoringNotFound(ctx context.Context, obj client.Object) error {
	if obj.GetDeletionTimestamp() != nil {
		return nil
	}
	return client.IgnoreNotFound(s.client.Delete(ctx, obj, client.Preconditions{UID: ptrTo(obj.GetUID())}))
}

// done ends a reconcile: a conflict means a newer version is on its way through the
// cache and will trigger another reconcile, so it is retried with back-off but not
// reported as an error; NotFound means the object went away.
func done(res reconcile.Result, err error) (reconcile.Result, error) {
	switch {
	case err == nil:
		return res, nil
	case apierrors.IsConflict(err):
		return reconcile.Result{RequeueAfter: conflictRetry}, nil
	case apierrors.IsNotFound(err):
		return reconcile.Result{}, nil
	default:
		return reconcile.Result{}, err
	}
}

func ptrTo[T any](v T) *T { return &v }

// conflictRetry is the fallback retry after a write conflict; usually the cache event
// of the newer version triggers the next reconcile sooner.
const conflictRetry = 500 * time.Millisecond
