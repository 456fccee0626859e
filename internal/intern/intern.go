// Package intern makes the strings of decoded API objects share memory with equal
// strings of other objects. An informer decodes every object on its own, so the
// namespace, label keys, an instance's ID (in its VM's, VMI's and volumes' labels,
// names and owner references) and the like are held once per object that names them;
// at 10,000 instances that is megabytes the operator's cache need not hold.
package intern

import (
	"reflect"
	"unique"
	"unsafe"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// Strings replaces the strings that obj (a pointer) reaches through exported fields,
// slices and string-keyed maps by canonical copies (unique.Make), so that equal strings
// of objects passed here share one backing array. Values stay equal; only where they
// are stored changes.
//
// It writes nothing where a string is already canonical: an informer may hand the
// objects of its store to its transform again while readers copy them. Resource
// versions are left alone: each is unique and replaced at every change, so interning
// them would only fill the canonical table.
func Strings(obj any) {
	var w walker
	w.walk(reflect.ValueOf(obj), false)
}

// walker counts the writes of a walk, for tests.
type walker struct{ writes int }

// skipped names the string fields left as they are.
const skipped = "ResourceVersion"

func (w *walker) walk(v reflect.Value, skip bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem(), false)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				w.walk(v.Field(i), f.Name == skipped)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			w.walk(v.Index(i), false)
		}
	case reflect.Map:
		w.walkMap(v)
	case reflect.String:
		if !skip && v.CanSet() {
			if s, changed := canonical(v.String()); changed {
				v.SetString(s)
				w.writes++
			}
		}
	}
}

// walkMap interns the keys of a string-keyed map, and its values when they are
// strings. Map values are not addressable, so other values are left as they are.
func (w *walker) walkMap(m reflect.Value) {
	if m.Len() == 0 || m.Type().Key().Kind() != reflect.String {
		return
	}
	stringValues := m.Type().Elem().Kind() == reflect.String
	it := m.MapRange()
	for it.Next() {
		k, kChanged := canonical(it.Key().String())
		val := it.Value()
		vChanged := false
		if stringValues {
			var s string
			if s, vChanged = canonical(val.String()); vChanged {
				val = reflect.ValueOf(s).Convert(m.Type().Elem())
			}
		}
		if kChanged || vChanged {
			// Assigning to an existing string key also replaces the stored key.
			m.SetMapIndex(reflect.ValueOf(k).Convert(m.Type().Key()), val)
			w.writes++
		}
	}
}

// canonical is s's canonical copy, and whether it is stored elsewhere than s.
func canonical(s string) (string, bool) {
	if s == "" {
		return s, false
	}
	c := unique.Make(s).Value()
	return c, unsafe.StringData(c) != unsafe.StringData(s)
}

// After is the cache transform t followed by interning the strings of what it returns.
func After(t toolscache.TransformFunc) toolscache.TransformFunc {
	return func(in any) (any, error) {
		out, err := t(in)
		if err != nil {
			return nil, err
		}
		Strings(out)
		return out, nil
	}
}

// CacheTransform is a cache transform that drops an object's managed fields, as
// cache.TransformStripManagedFields does, then interns its strings.
func CacheTransform() toolscache.TransformFunc {
	return After(cache.TransformStripManagedFields())
}
