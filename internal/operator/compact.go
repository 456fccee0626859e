package operator

import (
	"strings"
	"sync"
	"unique"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// koalaKey reports whether a label or annotation key is one of the operator's (of the
// domain of Koala's API group, or one under it): the only ones the reconcilers read or
// patch on KubeVirt's and CDI's objects, whose controllers add many of their own (a
// real CDI claim carries a dozen annotations). The KubeVirt simulator's keys, of
// another koala.dev domain, are not.
func koalaKey(k string) bool {
	domain, _, ok := strings.Cut(k, "/")
	return ok && (domain == koalav1.GroupVersion.Group || strings.HasSuffix(domain, "."+koalav1.GroupVersion.Group))
}

// keepKoalaMeta drops of m its managed fields, its finalizers and the labels and
// annotations that are not Koala's. What the operator patches of these objects it
// patches with merge patches computed from its cached copy, which leave the keys it
// does not hold as they are; it never reads nor sets their finalizers (KubeVirt's,
// CDI's and Kubernetes' own), only whether they are being deleted.
//
// It writes nothing when there is nothing to drop: the informer transforms the objects
// of its store again at each resync, while readers may be copying them.
func keepKoalaMeta(m *metav1.ObjectMeta) {
	if m.ManagedFields != nil {
		m.ManagedFields = nil
	}
	if m.Finalizers != nil {
		m.Finalizers = nil
	}
	if !onlyKoalaKeys(m.Labels) {
		m.Labels = koalaEntries(m.Labels)
	}
	if !onlyKoalaKeys(m.Annotations) {
		m.Annotations = koalaEntries(m.Annotations)
	}
}

func onlyKoalaKeys(m map[string]string) bool {
	for k := range m {
		if !koalaKey(k) {
			return false
		}
	}
	return true
}

// koalaEntries is a new map of the Koala entries of m, nil when there are none: a map
// costs some hundreds of bytes even when it holds one entry.
func koalaEntries(m map[string]string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if koalaKey(k) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// sharedCapacities hands out one resource list per distinct claim capacity, which the
// cached claims of that size share: a list of one entry costs some 650 bytes, and most
// claims are of a few sizes. Sharing is safe because nothing writes to a cached object:
// the cache hands readers deep copies, and the transforms make new lists.
var sharedCapacities = capacityTable{max: 4096}

type capacityTable struct {
	mu    sync.Mutex
	lists map[string]corev1.ResourceList
	// max bounds the table (some 3 MB at most): past it, a claim keeps its own list.
	max int
}

// shared is the table's list equal to l, l itself when it is not one of a single
// entry or the table is full.
func (t *capacityTable) shared(l corev1.ResourceList) corev1.ResourceList {
	if len(l) != 1 {
		return l
	}
	var name corev1.ResourceName
	var q resource.Quantity
	for n, v := range l {
		name, q = n, v
	}
	key := string(name) + "=" + q.String()
	t.mu.Lock()
	defer t.mu.Unlock()
	if have, ok := t.lists[key]; ok {
		return have
	}
	if len(t.lists) >= t.max {
		return l
	}
	if t.lists == nil {
		t.lists = map[string]corev1.ResourceList{}
	}
	// A list of its own, its key interned already: the cache's interning (intern.After)
	// then writes nothing to it, while other claims' readers may be copying it.
	own := corev1.ResourceList{corev1.ResourceName(unique.Make(string(name)).Value()): q.DeepCopy()}
	t.lists[key] = own
	return own
}
