// Package config embeds the manifests that programs install themselves: Koala's CRDs
// and the KubeVirt and CDI CRDs the local stack and the tests need.
package config

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

//go:embed crd/bases/*.yaml crd/thirdparty/*.yaml
var crds embed.FS

// CRDs returns Koala's CRDs (crd/bases) and the third-party ones (crd/thirdparty).
func CRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	err := fs.WalkDir(crds, "crd", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := crds.ReadFile(path)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := dec.Decode(crd); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return fmt.Errorf("decoding %s: %w", path, err)
			}
			if crd.Name != "" {
				out = append(out, crd)
			}
		}
		return nil
	})
	return out, err
}
