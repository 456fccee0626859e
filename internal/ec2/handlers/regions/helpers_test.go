package regions

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
)

const (
	region   = "koala-1"
	endpoint = "ec2.koala.example:8443"
)

// fakeStore answers Zones with fixed zones, and remembers the region asked about.
type fakeStore struct {
	zones []string
	err   error
	asked []string
}

func (f *fakeStore) Zones(_ context.Context, r string) ([]string, error) {
	f.asked = append(f.asked, r)
	return f.zones, f.err
}

func withZones(zs ...string) *fakeStore { return &fakeStore{zones: zs} }

func handlers(s Store) *Handlers { return &Handlers{Store: s, Region: region, Endpoint: endpoint} }

// call runs an action through the action table and returns the XML a client would
// receive, or the error.
func call(t *testing.T, h *Handlers, name string, params map[string]string) ([]byte, error) {
	t.Helper()
	var act *action.Action
	for _, a := range h.Actions() {
		if a.Name == name {
			act = &a
		}
	}
	if act == nil {
		t.Fatalf("%s is not in the action table", name)
	}
	if act.Mutating {
		t.Errorf("%s is marked mutating", name)
	}
	body, err := act.Handle(context.Background(), &action.Call{
		Action:    name,
		Params:    protocol.FromValues(params),
		Account:   store.Account{ID: "123456789012", Namespace: "demo"},
		RequestID: "r",
	})
	if err != nil {
		return nil, err
	}
	out, err := protocol.Marshal(name, "r", body)
	if err != nil {
		t.Fatal(err)
	}
	return out, nil
}

func mustCall(t *testing.T, h *Handlers, name string, params map[string]string) *doc {
	t.Helper()
	out, err := call(t, h, name, params)
	if err != nil {
		t.Fatalf("%s(%v): %v", name, params, err)
	}
	d := parse(t, out)
	if d.root.Local != name+"Response" || d.root.Space != protocol.Namespace {
		t.Errorf("root element = %v", d.root)
	}
	if got := d.get("requestId"); len(got) != 1 || got[0] != "r" {
		t.Errorf("requestId = %q", got)
	}
	return d
}

// doc is a response as a client sees it: the root element and, for every leaf element,
// its path below the root ("regionInfo/item/regionName") and its texts in document
// order. An empty element is a leaf with the text "".
type doc struct {
	root   xml.Name
	leaves map[string][]string
}

func parse(t *testing.T, b []byte) *doc {
	t.Helper()
	d := &doc{leaves: map[string][]string{}}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var path []string
	var hasChild []bool
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return d
		}
		if err != nil {
			t.Fatalf("response is not XML: %v\n%s", err, b)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if len(path) == 0 {
				d.root = el.Name
			} else {
				hasChild[len(hasChild)-1] = true
			}
			path = append(path, el.Name.Local)
			hasChild = append(hasChild, false)
			text.Reset()
		case xml.CharData:
			text.Write(el)
		case xml.EndElement:
			if !hasChild[len(hasChild)-1] && len(path) > 1 {
				p := strings.Join(path[1:], "/")
				d.leaves[p] = append(d.leaves[p], strings.TrimSpace(text.String()))
			}
			path, hasChild = path[:len(path)-1], hasChild[:len(hasChild)-1]
			text.Reset()
		}
	}
}

func (d *doc) get(path string) []string { return d.leaves[path] }

func (d *doc) has(path string) bool {
	_, ok := d.leaves[path]
	return ok
}

// refusal is an expected EC2 error: its code and, when not empty, its message.
type refusal struct {
	code, message string
}

func checkRefusal(t *testing.T, err error, want refusal) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s", want.code)
	}
	e, ok := protocol.AsError(err)
	if !ok {
		t.Fatalf("not an EC2 error: %v", err)
	}
	if e.Code != want.code {
		t.Errorf("code = %s, want %s (%s)", e.Code, want.code, e.Message)
	}
	if want.message != "" && e.Message != want.message {
		t.Errorf("message = %q, want %q", e.Message, want.message)
	}
}
