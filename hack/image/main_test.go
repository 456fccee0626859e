package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// readArchive unpacks an archive WriteArchive wrote and returns its layout's only
// index and that index's tag.
func readArchive(t *testing.T, path string) (v1.ImageIndex, string) {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		if h.ModTime.Unix() != 0 || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: entry %s has a timestamp or owner (%v, %d:%d): the archive is not reproducible", path, h.Name, h.ModTime, h.Uid, h.Gid)
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outer, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("%s is no OCI image layout: %v", path, err)
	}
	m, err := outer.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].MediaType != types.OCIImageIndex {
		t.Fatalf("the layout should hold one image index, holds %+v", m.Manifests)
	}
	idx, err := outer.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return idx, m.Manifests[0].Annotations[refNameAnnotation]
}

// layerFiles lists an image's files (name -> header and body) across its layers.
func layerFiles(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Errorf("the image has %d layers, want 1 (the binary on an empty base)", len(layers))
	}
	headers, bodies := map[string]*tar.Header{}, map[string][]byte{}
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		if mt != types.OCILayer {
			t.Errorf("layer media type %s, want %s", mt, types.OCILayer)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			headers[h.Name], bodies[h.Name] = h, body
		}
		rc.Close()
	}
	return headers, bodies
}

func TestTheEC2ImageHoldsOnlyItsStaticBinaryRunAsNonRootAndItRuns(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the images are linux images; inspecting one runs its binary")
	}
	out := t.TempDir()
	// The real build of `make image`, for this machine's platform so that the binary
	// taken out of the image can run here.
	platform := "linux/" + runtime.GOARCH
	if err := run(context.Background(), "../..", "v0.0.0-test", platform, out, []string{"koala-ec2"}); err != nil {
		t.Fatalf("building the image: %v", err)
	}
	idx, tag := readArchive(t, filepath.Join(out, "koala-ec2.tar"))
	if tag != "v0.0.0-test" {
		t.Errorf("the archive is tagged %q, want v0.0.0-test", tag)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Platform == nil ||
		im.Manifests[0].Platform.OS != "linux" || im.Manifests[0].Platform.Architecture != runtime.GOARCH {
		t.Fatalf("index manifests %+v, want one for %s", im.Manifests, platform)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("runs as %q, want the non-root 65532:65532", cfg.Config.User)
	}
	if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/koala-ec2" || len(cfg.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want /koala-ec2 and no cmd", got, cfg.Config.Cmd)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH || !cfg.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("config os %s arch %s created %v", cfg.OS, cfg.Architecture, cfg.Created)
	}
	if cfg.Config.Labels["org.opencontainers.image.version"] != "v0.0.0-test" {
		t.Errorf("labels %v lack the version", cfg.Config.Labels)
	}

	headers, bodies := layerFiles(t, img)
	var names []string
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	if want := []string{"etc/", "etc/group", "etc/passwd", "koala-ec2"}; strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("the image holds %v, want exactly %v (no shell, no package manager)", names, want)
	}
	if h := headers["koala-ec2"]; h == nil || h.Uid != 0 || h.Mode&0o222 != 0 || h.Mode&0o111 == 0 {
		t.Errorf("the binary's header %+v: want owned by root, executable, writable by nobody", h)
	}
	if !strings.Contains(string(bodies["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd does not name the user 65532: %q", bodies["etc/passwd"])
	}

	bin := bodies["koala-ec2"]
	ef, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("the binary is no ELF file: %v", err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v: it is not static", libs)
	}

	// The binary, taken out of the image, runs: it prints its flags.
	path := filepath.Join(t.TempDir(), "koala-ec2")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	usage, _ := exec.Command(path, "-h").CombinedOutput()
	if !strings.Contains(string(usage), "-listen") {
		t.Errorf("the image's binary does not run: %q", usage)
	}
}

func TestImagesAreReproducibleAndOneIndexHoldsEveryPlatform(t *testing.T) {
	created := time.Unix(1700000000, 0).UTC()
	build := func(payload string) v1.ImageIndex {
		var images []platformImage
		for _, s := range []string{"linux/amd64", "linux/arm64"} {
			p, err := v1.ParsePlatform(s)
			if err != nil {
				t.Fatal(err)
			}
			img, err := Image("koala-operator", "v1", *p, []byte(payload+s), created)
			if err != nil {
				t.Fatal(err)
			}
			images = append(images, platformImage{*p, img})
		}
		return Index(images)
	}
	digest := func(idx v1.ImageIndex) v1.Hash {
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := build("binary"), build("binary")
	if digest(a) != digest(b) {
		t.Errorf("two builds of the same binaries differ: %s and %s", digest(a), digest(b))
	}
	if digest(build("other binary")) == digest(a) {
		t.Error("different binaries make the same image")
	}

	dir := t.TempDir()
	for _, name := range []string{"one.tar", "two.tar"} {
		if err := WriteArchive(filepath.Join(dir, name), a, "v1"); err != nil {
			t.Fatal(err)
		}
	}
	one, err := os.ReadFile(filepath.Join(dir, "one.tar"))
	if err != nil {
		t.Fatal(err)
	}
	two, err := os.ReadFile(filepath.Join(dir, "two.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one, two) {
		t.Error("two archives of the same index differ")
	}

	idx, _ := readArchive(t, filepath.Join(dir, "one.tar"))
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, m := range im.Manifests {
		plats = append(plats, m.Platform.String())
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != m.Platform.Architecture || !cfg.Created.Time.Equal(created) {
			t.Errorf("image for %s: config says %s, created %v", m.Platform, cfg.Architecture, cfg.Created)
		}
	}
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("the index holds %v, want linux/amd64 and linux/arm64", plats)
	}
}
