package operator

import (
	"strings"

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
