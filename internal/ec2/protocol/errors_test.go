package protocol

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Every Code* constant declared in this package must have a status in the table.
func TestEveryCodeIsInTheTable(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		spec, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range spec.Names {
			if !strings.HasPrefix(name.Name, "Code") || i >= len(spec.Values) {
				continue
			}
			lit, ok := spec.Values[i].(*ast.BasicLit)
			if !ok {
				continue
			}
			code, _ := strconv.Unquote(lit.Value)
			n++
			if !Known(code) {
				t.Errorf("%s (%q) has no HTTP status in statusOf", name.Name, code)
			}
		}
		return true
	})
	if n < 20 {
		t.Fatalf("found only %d codes; the test is not reading errors.go", n)
	}
}

func TestStatusesClientsRelyOn(t *testing.T) {
	cases := map[string]int{
		CodeDryRunOperation:           http.StatusPreconditionFailed,
		CodeRequestLimitExceeded:      http.StatusServiceUnavailable, // botocore retries it only with 503
		CodeInternalError:             http.StatusInternalServerError,
		CodeAuthFailure:               http.StatusUnauthorized,
		CodeInvalidParameterValue:     http.StatusBadRequest,
		CodeUnauthorizedOperation:     http.StatusForbidden,
		CodeInvalidInstanceIDNotFound: http.StatusBadRequest,
	}
	for code, status := range cases {
		if got := Errorf(code, "x").Status; got != status {
			t.Errorf("%s: status %d, want %d", code, got, status)
		}
	}
}

type codedErr struct{}

func (codedErr) Error() string             { return "coded" }
func (codedErr) EC2Code() (string, string) { return CodeAuthFailure, "nope" }

func TestAsError(t *testing.T) {
	if e, ok := AsError(fmt.Errorf("wrapped: %w", Errorf(CodeMissingParameter, "m"))); !ok || e.Code != CodeMissingParameter {
		t.Errorf("wrapped EC2 error: %v %v", e, ok)
	}
	if e, ok := AsError(codedErr{}); !ok || e.Code != CodeAuthFailure || e.Message != "nope" {
		t.Errorf("coded error: %v %v", e, ok)
	}
	e, ok := AsError(errors.New("etcd is on fire"))
	if ok || e.Code != CodeInternalError || strings.Contains(e.Message, "etcd") {
		t.Errorf("unknown error = %v %v; want InternalError hiding the detail", e, ok)
	}
	if e := Errorf("NoSuchCode", "x"); e.Code != CodeInternalError {
		t.Errorf("unknown code became %s", e.Code)
	}
}
