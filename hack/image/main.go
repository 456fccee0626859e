// Command image builds Koala's container images without a container engine: for each
// binary named on the command line, a static Go build per platform on an empty base
// (one layer: the binary, and /etc/passwd and /etc/group naming the non-root user
// 65532), written as an OCI image archive (an OCI image layout in a tar, which skopeo
// copies as oci-archive:). Images are reproducible: no timestamps, fixed file owners.
//
//	go -C hack/image run . -root "$PWD" -tag v0.1.0 -platforms linux/amd64,linux/arm64 -out "$PWD/bin/images" koala-operator koala-ec2
//
// It is a module of its own (see go.mod); `make image` runs it.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// nonRoot is the user and group the images run as (distroless' "nonroot").
	nonRoot = 65532
	source  = "https://github.com/koala-dev/koala"
	// refNameAnnotation tags an index in an OCI layout (skopeo's oci-archive:FILE:TAG).
	refNameAnnotation = "org.opencontainers.image.ref.name"
)

func main() {
	var (
		tag       = flag.String("tag", "dev", "Image tag, also the org.opencontainers.image.version label.")
		platforms = flag.String("platforms", "linux/amd64", "Comma-separated platforms, os/arch[/variant].")
		out       = flag.String("out", "bin/images", "Directory the archives <binary>.tar are written to.")
		root      = flag.String("root", "../..", "The Koala repository, whose ./cmd/<binary> are built.")
	)
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: image [flags] binary...   (binaries are ./cmd/<binary>)")
		os.Exit(2)
	}
	if err := run(context.Background(), *root, *tag, *platforms, *out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, root, tag, platformList, out string, binaries []string) error {
	var plats []v1.Platform
	for _, s := range strings.Split(platformList, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("platform %q: %w", s, err)
		}
		plats = append(plats, *p)
	}
	created, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "koala-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for _, name := range binaries {
		var images []platformImage
		for _, p := range plats {
			bin, err := buildBinary(ctx, root, name, p, work)
			if err != nil {
				return err
			}
			img, err := Image(name, tag, p, bin, created)
			if err != nil {
				return fmt.Errorf("assembling %s for %s: %w", name, p, err)
			}
			images = append(images, platformImage{p, img})
		}
		idx := Index(images)
		path := filepath.Join(out, name+".tar")
		if err := WriteArchive(path, idx, tag); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		digest, err := idx.Digest()
		if err != nil {
			return err
		}
		fmt.Printf("%s: %s:%s %s (%s)\n", path, name, tag, digest, platformList)
	}
	return nil
}

// sourceDateEpoch is the images' creation time: $SOURCE_DATE_EPOCH when set (the
// reproducible-builds convention), else the Unix epoch.
func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

// buildBinary compiles root's ./cmd/<name> for p as a static binary (no cgo, so no
// libc to link) and returns its contents.
func buildBinary(ctx context.Context, root, name string, p v1.Platform, dir string) ([]byte, error) {
	out, err := filepath.Abs(filepath.Join(dir, fmt.Sprintf("%s-%s-%s%s", name, p.OS, p.Architecture, p.Variant)))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, "./cmd/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Architecture == "arm" && p.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building %s for %s: %w", name, p, err)
	}
	return os.ReadFile(out)
}

type platformImage struct {
	platform v1.Platform
	image    v1.Image
}

// Image is the image of one binary for one platform: an empty base and one layer with
// the binary at /<name>, run as the non-root user, with no shell and nothing else.
func Image(name, version string, p v1.Platform, binary []byte, created time.Time) (v1.Image, error) {
	layerTar, err := rootFS(name, binary, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("building the layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: created}
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.History = []v1.History{{Created: v1.Time{Time: created}, CreatedBy: "hack/image: /" + name, Comment: "static binary on an empty base"}}
	cfg.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", nonRoot, nonRoot),
		Entrypoint: []string{"/" + name},
		WorkingDir: "/",
		Labels: map[string]string{
			"org.opencontainers.image.title":   name,
			"org.opencontainers.image.version": version,
			"org.opencontainers.image.source":  source,
			"org.opencontainers.image.vendor":  "Koala",
		},
	}
	return mutate.ConfigFile(img, cfg)
}

// rootFS is the layer's tar: /etc/passwd and /etc/group (so that tools that map the
// user to a name find one), and the binary, owned by root and not writable by the
// user it runs as.
func rootFS(name string, binary []byte, mtime time.Time) ([]byte, error) {
	files := []struct {
		name string
		mode int64
		body []byte
	}{
		{"etc/", 0o755, nil},
		{"etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonRoot))},
		{"etc/passwd", 0o644, []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonRoot, nonRoot))},
		{name, 0o555, binary},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: mtime, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Index is the multi-platform index of one binary's images.
func Index(images []platformImage) v1.ImageIndex {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, pi := range images {
		p := pi.platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        pi.image,
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return idx
}

// WriteArchive writes idx as an OCI image layout, tagged tag, into a tar at path. The
// tar is reproducible: sorted entries, no timestamps or owners.
func WriteArchive(path string, idx v1.ImageIndex, tag string) error {
	dir, err := os.MkdirTemp("", "koala-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("creating the layout: %w", err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{refNameAnnotation: tag})); err != nil {
		return fmt.Errorf("writing the index: %w", err)
	}
	var names []string
	if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		names = append(names, p)
		return nil
	}); err != nil {
		return err
	}
	sort.Strings(names)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, p := range names {
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if info.IsDir() {
			h.Name += "/"
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Size = tar.TypeReg, info.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.IsDir() {
			body, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, body)
			body.Close()
			if err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
