package intern

import (
	"encoding/json"
	"reflect"
	"testing"
	"unsafe"

	"k8s.io/apimachinery/pkg/api/equality"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// vmiJSON is the shape of a VMI as the operator's cache holds it: what two decodes of
// one instance's objects repeat.
const vmiJSON = `{"metadata":{"name":"i-0abc","namespace":"acct-a","resourceVersion":"41",
 "labels":{"cloud.koala.dev/instance-id":"i-0abc","sg.cloud.koala.dev/sg-1":"true"},
 "ownerReferences":[{"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine","name":"i-0abc","uid":"9b1c-77"}]},
 "spec":{"volumes":[{"name":"rootdisk","dataVolume":{"name":"i-0abc-root"}}]},
 "status":{"phase":"Running","nodeName":"node-1","interfaces":[{"name":"vpc","ipAddress":"10.0.0.7"}]}}`

func decode(t *testing.T) *kubevirtv1.VirtualMachineInstance {
	t.Helper()
	vmi := &kubevirtv1.VirtualMachineInstance{}
	if err := json.Unmarshal([]byte(vmiJSON), vmi); err != nil {
		t.Fatal(err)
	}
	return vmi
}

func same(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

// labelKey is m's stored key equal to k (a map lookup does not give it).
func labelKey(m map[string]string, k string) string {
	for key := range m {
		if key == k {
			return key
		}
	}
	return ""
}

func TestEqualStringsOfTwoObjectsShareMemoryAndKeepTheirValues(t *testing.T) {
	a, b := decode(t), decode(t)
	want := a.DeepCopy()
	if same(a.Namespace, b.Namespace) {
		t.Fatal("two decodes already share their strings; the test proves nothing")
	}
	Strings(a)
	Strings(b)
	if !equality.Semantic.DeepEqual(a, want) {
		t.Fatalf("interning changed the object:\n%+v\nwant\n%+v", a, want)
	}
	for what, pair := range map[string][2]string{
		"namespace":       {a.Namespace, b.Namespace},
		"name and label":  {a.Name, b.Labels["cloud.koala.dev/instance-id"]},
		"label key":       {labelKey(a.Labels, "sg.cloud.koala.dev/sg-1"), labelKey(b.Labels, "sg.cloud.koala.dev/sg-1")},
		"owner's uid":     {string(a.OwnerReferences[0].UID), string(b.OwnerReferences[0].UID)},
		"volume's source": {a.Spec.Volumes[0].DataVolume.Name, b.Spec.Volumes[0].DataVolume.Name},
		"address":         {a.Status.Interfaces[0].IP, b.Status.Interfaces[0].IP},
		"phase":           {string(a.Status.Phase), string(b.Status.Phase)},
	} {
		if !same(pair[0], pair[1]) {
			t.Errorf("%s: %q is held twice", what, pair[0])
		}
	}
	if same(a.ResourceVersion, b.ResourceVersion) {
		t.Error("resource versions were interned; each is unique and would only fill the table")
	}
}

func TestInterningAnObjectAgainWritesNothing(t *testing.T) {
	// An informer may transform the objects of its store again while readers copy
	// them: a second pass must not write, not even an equal string.
	vmi := decode(t)
	var first, again walker
	first.walk(reflect.ValueOf(vmi), false)
	again.walk(reflect.ValueOf(vmi), false)
	if first.writes == 0 || again.writes != 0 {
		t.Errorf("the first pass wrote %d strings and the second %d, want some and none", first.writes, again.writes)
	}
}
