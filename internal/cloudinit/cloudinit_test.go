package cloudinit

import (
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
)

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ/AYo177qSt3HXN/AN2QkzUQU0H+Y0iIE1IJQAAJMLP"

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func decode(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUserDataWithoutKeyPassesThrough(t *testing.T) {
	in := b64("#!/bin/sh\necho hi\n")
	got, err := Build(in, "")
	if err != nil || got != in {
		t.Errorf("Build = %q, %v; want the input unchanged", got, err)
	}
}

func TestNothingGivesAnEmptyCloudConfig(t *testing.T) {
	got, _ := Build("", "")
	if decode(t, got) != "#cloud-config\n{}\n" {
		t.Errorf("got %q", decode(t, got))
	}
}

func TestKeyAloneIsACloudConfig(t *testing.T) {
	got, _ := Build("", key)
	want := "#cloud-config\nssh_authorized_keys:\n  - " + key + "\n"
	if decode(t, got) != want {
		t.Errorf("got %q, want %q", decode(t, got), want)
	}
}

func TestKeyAndScriptMakeAMultipartArchiveWithBothParts(t *testing.T) {
	script := "#!/bin/bash\necho hello > /tmp/x\n"
	got, err := Build(b64(script), key)
	if err != nil {
		t.Fatal(err)
	}
	doc := decode(t, got)
	header, body, ok := strings.Cut(doc, "\n\n")
	if !ok {
		t.Fatalf("no header in %q", doc)
	}
	mediaType, params, err := mime.ParseMediaType(strings.TrimPrefix(strings.Split(header, "\n")[0], "Content-Type: "))
	if err != nil || mediaType != "multipart/mixed" {
		t.Fatalf("media type %q, %v", mediaType, err)
	}
	r := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var types, contents []string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		types = append(types, p.Header.Get("Content-Type"))
		contents = append(contents, string(b))
	}
	if len(types) != 2 || !strings.HasPrefix(types[0], "text/cloud-config") || !strings.HasPrefix(types[1], "text/x-shellscript") {
		t.Fatalf("parts %v", types)
	}
	if !strings.Contains(contents[0], key) || contents[1] != script {
		t.Errorf("contents %q", contents)
	}
}

func TestInvalidBase64IsAnError(t *testing.T) {
	if _, err := Build("not base64!", key); err == nil {
		t.Error("accepted")
	}
}

func TestContentType(t *testing.T) {
	cases := map[string]struct{ data, want string }{
		"a shell script":  {"#!/bin/sh", "text/x-shellscript"},
		"a cloud-config":  {"#cloud-config\n", "text/cloud-config"},
		"gzip":            {"\x1f\x8b\x08", "application/x-gzip"},
		"unknown text":    {"hello", "text/plain"},
		"an include file": {"#include\nhttp://x", "text/x-include-url"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := contentType([]byte(tc.data)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
