package operator

import (
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// instanceObjects are the files under testdata/instance: one running instance of the
// local stack and the objects the operator caches for it, as the API server served
// them.
var instanceObjects = map[string]func() client.Object{
	"instance.json": func() client.Object { return &koalav1.Instance{} },
	"volume.json":   func() client.Object { return &koalav1.Volume{} },
	"claim.json":    func() client.Object { return &koalav1.NetworkClaim{} },
	"vm.json":       func() client.Object { return &kubevirtv1.VirtualMachine{} },
	"vmi.json":      func() client.Object { return &kubevirtv1.VirtualMachineInstance{} },
	"dv.json":       func() client.Object { return &cdiv1beta1.DataVolume{} },
	"pvc.json":      func() client.Object { return &corev1.PersistentVolumeClaim{} },
}

// The values of testdata/instance that differ from one instance to the next.
var (
	uidPattern             = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	resourceVersionPattern = regexp.MustCompile(`"resourceVersion": "[0-9]+"`)
)

// nthInstance is testdata/instance as the n-th instance's: its IDs, address, MACs,
// UIDs (an owner's the same in its owned objects) and resource versions its own.
func nthInstance(files map[string]string, n int) map[string]string {
	ids := strings.NewReplacer(
		"i-01c3e959d7f89f86c", fmt.Sprintf("i-%017x", n), "vol-1c3658805b5e16bc9", fmt.Sprintf("vol-%017x", n),
		"10.0.101.156", fmt.Sprintf("10.%d.%d.%d", n>>16, n>>8&255, n&255),
		"02:32:4d:60:b5:57", fmt.Sprintf("02:32:%02x:%02x:%02x:57", n>>16, n>>8&255, n&255),
		"02:58:29:58:fc:a2", fmt.Sprintf("02:58:%02x:%02x:%02x:a2", n>>16, n>>8&255, n&255))
	uids := map[string]string{}
	out := map[string]string{}
	rv := 0
	for name, s := range files {
		s = uidPattern.ReplaceAllStringFunc(ids.Replace(s), func(u string) string {
			if uids[u] == "" {
				uids[u] = fmt.Sprintf("%08x-0000-4000-8000-%012x", n, len(uids))
			}
			return uids[u]
		})
		out[name] = resourceVersionPattern.ReplaceAllStringFunc(s, func(string) string {
			rv++
			return fmt.Sprintf(`"resourceVersion": "%d"`, n*10+rv)
		})
	}
	return out
}

// instanceFiles are the named files of testdata/instance, by name.
func instanceFiles(b *testing.B, names iter.Seq[string]) map[string]string {
	files := map[string]string{}
	for name := range names {
		data, err := os.ReadFile(filepath.Join("testdata", "instance", name))
		if err != nil {
			b.Fatal(err)
		}
		files[name] = string(data)
	}
	return files
}

// reportHeapPerInstance runs fill, which makes b.N instances' worth of what is
// measured, and reports by how much it grew the heap per instance, between collections.
// The caller keeps what fill made alive until after.
func reportHeapPerInstance(b *testing.B, fill func()) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	fill()
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "B/instance")
}

// transform is the operator cache's transform of obj's kind.
func transform(opts cache.Options, obj client.Object) (any, error) {
	for kind, by := range opts.ByObject {
		if reflect.TypeOf(kind) == reflect.TypeOf(obj) && by.Transform != nil {
			return by.Transform(obj)
		}
	}
	return opts.DefaultTransform(obj)
}

// BenchmarkOperatorCacheBytesPerInstance reports the heap that the operator's cache
// holds per running instance in its objects (the instance, its root volume, address
// claim, VM, VMI, DataVolume and claim), decoded and transformed as the cache does.
// Not counted: the cache's indexes and the informers' bookkeeping.
func BenchmarkOperatorCacheBytesPerInstance(b *testing.B) {
	files := instanceFiles(b, maps.Keys(instanceObjects))
	opts := OperatorCacheOptions()
	inputs := make([]map[string]string, b.N)
	for n := range inputs {
		inputs[n] = nthInstance(files, n)
	}
	held := make([]any, 0, b.N*len(files))
	reportHeapPerInstance(b, func() {
		for n := 0; n < b.N; n++ {
			for name, mk := range instanceObjects {
				obj := mk()
				if err := json.Unmarshal([]byte(inputs[n][name]), obj); err != nil {
					b.Fatalf("%s: %v", name, err)
				}
				out, err := transform(opts, obj)
				if err != nil {
					b.Fatal(err)
				}
				held = append(held, out)
			}
		}
	})
	runtime.KeepAlive(held)
	runtime.KeepAlive(inputs) // made before the first reading: not counted
}
