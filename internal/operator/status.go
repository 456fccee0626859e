package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
)

// The operator's own status lives in a ConfigMap in its namespace (the chart creates
// it): data[StatusConditionsKey] holds a JSON list of metav1.Condition, the same shape
// as a Koala resource's status.conditions. Every change is also an Event regarding the
// ConfigMap, so `kubectl -n <namespace> get events` tells what is wrong.
const (
	// DefaultStatusConfigMap is the ConfigMap's name.
	DefaultStatusConfigMap = "koala-operator-status"
	// StatusConditionsKey is the ConfigMap's key holding the conditions.
	StatusConditionsKey = "conditions"

	// PrerequisitesCondition is True once every CRD the operator builds on is served,
	// and the reconcilers have started.
	PrerequisitesCondition = "PrerequisitesInstalled"
	// ReasonPrerequisitesMissing: at least one CRD is not served; the message names
	// them and what installs them. The operator checks again periodically.
	ReasonPrerequisitesMissing = "PrerequisitesMissing"
	// ReasonPrerequisitesFound: every CRD is served.
	ReasonPrerequisitesFound = "PrerequisitesFound"
	// ReasonDiscoveryFailed: the API server's discovery could not be read; the
	// operator tries again.
	ReasonDiscoveryFailed = "DiscoveryFailed"
)

// statusReporter writes the operator's conditions into its status ConfigMap and
// records an Event for each new one. Without a ConfigMap to write to (an operator run
// outside a cluster) it only logs.
type statusReporter struct {
	client   kubernetes.Interface
	key      types.NamespacedName
	recorder events.EventRecorder
	log      logr.Logger

	mu sync.Mutex
	// told and written are the reason and message last logged and recorded, and last
	// written to the ConfigMap, so that a poll that finds the same thing repeats
	// nothing, and a failed write is tried again at the next poll.
	told, written string
	// warned is set once a missing or unwritable ConfigMap has been logged.
	warned bool
}

// report records cond (its LastTransitionTime changes only when its status does).
func (r *statusReporter) report(ctx context.Context, cond metav1.Condition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := cond.Reason + "\x00" + cond.Message
	var cm *corev1.ConfigMap
	if r.client != nil && r.key.Name != "" && r.key.Namespace != "" && seen != r.written {
		var err error
		if cm, err = r.write(ctx, cond); err == nil {
			r.written = seen
		} else if !r.warned {
			r.warned = true
			r.log.Error(err, "cannot record the operator's status; events and logs still tell it", "configMap", r.key.String())
		}
	}
	if seen == r.told {
		return
	}
	r.told = seen
	kv := []any{"condition", cond.Type, "status", cond.Status, "reason", cond.Reason, "message", cond.Message}
	if cond.Status == metav1.ConditionTrue {
		r.log.Info("operator status", kv...)
	} else {
		r.log.Error(nil, "operator status", kv...)
	}
	if r.recorder == nil || r.key.Name == "" || r.key.Namespace == "" {
		return
	}
	if cm == nil {
		// Events still regard the ConfigMap by name, so they show up in its namespace.
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: r.key.Name, Namespace: r.key.Namespace}}
		cm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	}
	eventType := corev1.EventTypeWarning
	if cond.Status == metav1.ConditionTrue {
		eventType = corev1.EventTypeNormal
	}
	r.recorder.Eventf(cm, nil, eventType, cond.Reason, "Preflight", "%s", cond.Message)
}

// write merges cond into the ConfigMap's conditions and patches them when they
// changed. It returns the ConfigMap it read, if any.
func (r *statusReporter) write(ctx context.Context, cond metav1.Condition) (*corev1.ConfigMap, error) {
	cms := r.client.CoreV1().ConfigMaps(r.key.Namespace)
	cm, err := cms.Get(ctx, r.key.Name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the status ConfigMap does not exist (the Helm chart creates it): %w", err)
		}
		return nil, fmt.Errorf("reading the status ConfigMap: %w", err)
	}
	cm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	var conds []metav1.Condition
	if raw := cm.Data[StatusConditionsKey]; raw != "" {
		// A value that does not parse was not written by the operator: replace it.
		_ = json.Unmarshal([]byte(raw), &conds)
	}
	if !meta.SetStatusCondition(&conds, cond) {
		return cm, nil
	}
	raw, err := json.Marshal(conds)
	if err != nil {
		return cm, fmt.Errorf("encoding conditions: %w", err)
	}
	patch, err := json.Marshal(map[string]any{"data": map[string]string{StatusConditionsKey: string(raw)}})
	if err != nil {
		return cm, fmt.Errorf("encoding the status patch: %w", err)
	}
	if _, err := cms.Patch(ctx, r.key.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "koala-operator"}); err != nil {
		return cm, fmt.Errorf("writing the status ConfigMap: %w", err)
	}
	return cm, nil
}

// ReadStatus parses the conditions out of a status ConfigMap, for tests and tools.
func ReadStatus(cm *corev1.ConfigMap) ([]metav1.Condition, error) {
	var conds []metav1.Condition
	raw := cm.Data[StatusConditionsKey]
	if raw == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(raw), &conds); err != nil {
		return nil, fmt.Errorf("decoding %s/%s's conditions: %w", cm.Namespace, cm.Name, err)
	}
	return conds, nil
}
