// Package cloudinit builds the NoCloud user data a guest boots with: the user's own
// user data (as given to RunInstances) plus the key pair's public key, which EC2 hands
// to the guest through its metadata service and Koala hands through cloud-init.
package cloudinit

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
)

// Build returns the user data for the guest, base64-encoded. userDataB64 is the
// user's data as EC2 takes it (base64, possibly empty); authorizedKey is the public key
// line to install for the default user (possibly empty).
//
// Without a key the user's data goes through unchanged. With a key and no user data,
// the result is a #cloud-config that installs the key. With both, it is a MIME
// multipart archive, the format cloud-init documents for combining parts: the key's
// #cloud-config first, then the user's data as its own part, typed by its first line.
func Build(userDataB64, authorizedKey string) (string, error) {
	userData, err := base64.StdEncoding.DecodeString(userDataB64)
	if err != nil {
		return "", fmt.Errorf("user data is not valid base64: %w", err)
	}
	if authorizedKey == "" {
		if len(userData) == 0 {
			// cloud-init needs some user data on the NoCloud disk.
			return base64.StdEncoding.EncodeToString([]byte("#cloud-config\n{}\n")), nil
		}
		return userDataB64, nil
	}
	keyConfig := "#cloud-config\nssh_authorized_keys:\n  - " + strings.TrimSpace(authorizedKey) + "\n"
	if len(userData) == 0 {
		return base64.StdEncoding.EncodeToString([]byte(keyConfig)), nil
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fmt.Fprintf(&body, "Content-Type: multipart/mixed; boundary=%q\nMIME-Version: 1.0\n\n", w.Boundary())
	if err := writePart(w, "text/cloud-config", "koala-key.cfg", []byte(keyConfig)); err != nil {
		return "", err
	}
	if err := writePart(w, contentType(userData), "user-data", userData); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(body.Bytes()), nil
}

func writePart(w *multipart.Writer, ctype, filename string, data []byte) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", ctype+`; charset="us-ascii"`)
	h.Set("MIME-Version", "1.0")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", filename))
	if !isText(data) {
		h.Set("Content-Type", ctype)
		h.Set("Content-Transfer-Encoding", "base64")
		pw, err := w.CreatePart(h)
		if err != nil {
			return err
		}
		_, err = pw.Write([]byte(base64.StdEncoding.EncodeToString(data)))
		return err
	}
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = pw.Write(data)
	return err
}

// contentType is the MIME type cloud-init gives a user-data part, from its first line
// (cloud-init's "user data formats").
func contentType(data []byte) string {
	switch {
	case len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b:
		return "application/x-gzip"
	case bytes.HasPrefix(data, []byte("#!")):
		return "text/x-shellscript"
	case bytes.HasPrefix(data, []byte("#cloud-config")):
		return "text/cloud-config"
	case bytes.HasPrefix(data, []byte("#include")):
		return "text/x-include-url"
	case bytes.HasPrefix(data, []byte("#cloud-boothook")):
		return "text/cloud-boothook"
	case bytes.HasPrefix(data, []byte("## template: jinja")):
		return "text/jinja2"
	case bytes.HasPrefix(data, []byte("#part-handler")):
		return "text/part-handler"
	}
	return "text/plain"
}

func isText(data []byte) bool {
	for _, c := range data {
		if c == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c >= 0x80 {
			return false
		}
	}
	return true
}
