package controllers_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The samples in config/samples are what users copy first: the API server must accept
// each as it is.
func TestTheSamplesAreAcceptedByTheAPIServer(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	files, err := filepath.Glob("../config/samples/cloud_*.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).To(HaveLen(5))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		obj := &unstructured.Unstructured{}
		g.Expect(yaml.Unmarshal(raw, &obj.Object)).To(Succeed(), f)
		obj.SetNamespace(ns)
		g.Expect(k8s.Create(context.Background(), obj)).To(Succeed(), f)
	}
}
