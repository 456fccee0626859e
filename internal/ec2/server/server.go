// Package server is the EC2 endpoint's HTTP front: it bounds and parses each request,
// authenticates it with SigV4 against the account keys, dispatches it through the
// action table, and writes the one response.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/go-logr/logr"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/audit"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/sigv4"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ec2/throttle"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

// Credentials finds an access key's secret and account.
type Credentials interface {
	Credentials(ctx context.Context, accessKeyID string) (secret string, acct store.Account, err error)
}

// Config is what a Server is built from.
type Config struct {
	Region      string
	Credentials Credentials
	Now         func() time.Time
	Log         logr.Logger
	Metrics     *Metrics // optional
	// Throttle limits each key's request rate; nil does not limit.
	Throttle *throttle.Limiter
	// Audit receives a line per mutating call; nil writes none.
	Audit *audit.Logger
}

// Server answers EC2 Query requests.
type Server struct {
	cfg     Config
	actions map[string]action.Action
}

// New builds a server with the given action groups. Two actions of one name are a
// programming error.
func New(cfg Config, groups ...[]action.Action) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, actions: map[string]action.Action{}}
	for _, g := range groups {
		for _, a := range g {
			if _, dup := s.actions[a.Name]; dup {
				return nil, fmt.Errorf("action %s is registered twice", a.Name)
			}
			s.actions[a.Name] = a
		}
	}
	return s, nil
}

// Actions returns the names the server answers, for documentation and tests.
func (s *Server) Actions() []string {
	out := make([]string, 0, len(s.actions))
	for name := range s.actions {
		out = append(out, name)
	}
	return out
}

var versionPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// presignParams are SigV4's own query parameters; they are not the action's.
var presignParams = []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
	"X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Content-Sha256"}

// ServeHTTP answers one request. It never panics on input: a panic in a handler is
// answered as InternalError and logged.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.cfg.Now()
	requestID := protocol.NewRequestID()
	actionName := "Unknown"
	code := "OK"
	var call *action.Call
	var a action.Action
	// record counts the call in the metrics and writes its audit line, once, before
	// the answer is written: a client that has its answer finds its call in both.
	recorded := false
	record := func() {
		if recorded {
			return
		}
		recorded = true
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.observe(actionName, code, s.cfg.Now().Sub(start))
		}
		if call != nil && a.Mutating {
			s.audit(r, call, code)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Log.Error(fmt.Errorf("panic: %v", p), "handler panicked", "requestID", requestID, "action", actionName)
			e := protocol.Errorf(protocol.CodeInternalError, "An internal error has occurred")
			code = e.Code
			record()
			protocol.WriteError(w, e, requestID)
		}
	}()

	call, err := s.authenticate(r, requestID)
	if err == nil {
		a, err = s.lookup(call)
		actionName = call.Action
	}
	var out []byte
	if err == nil {
		out, err = s.run(r.Context(), a, call)
	}
	if err != nil {
		e, known := protocol.AsError(err)
		if !known {
			s.cfg.Log.Error(err, "request failed", "requestID", requestID, "action", actionName)
		}
		code = e.Code
		record()
		protocol.WriteError(w, e, requestID)
		return
	}
	record()
	w.Header().Set("x-amzn-RequestId", requestID)
	protocol.Write(w, http.StatusOK, out)
}

// audit writes the audit line of a mutating call: the resource IDs among its
// parameters and those the handler reported (the instances it launched, ...).
func (s *Server) audit(r *http.Request, call *action.Call, code string) {
	if s.cfg.Audit == nil {
		return
	}
	dryRun, _, _ := call.Params.Bool("DryRun")
	rec := audit.Record{
		Time:        s.cfg.Now().UTC(),
		Account:     call.Account.ID,
		AccessKeyID: call.KeyID,
		Action:      call.Action,
		Resources:   audit.ResourceIDs(append(call.Params.Values(), call.Resources...)...),
		Result:      code,
		RequestID:   call.RequestID,
		SourceIP:    sourceIP(r),
		DryRun:      dryRun,
	}
	if err := s.cfg.Audit.Log(rec); err != nil {
		s.cfg.Log.Error(err, "writing audit record", "requestID", call.RequestID)
	}
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authenticate reads the bounded body, checks the signature and parses the
// parameters.
func (s *Server) authenticate(r *http.Request, requestID string) (*action.Call, error) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, protocol.Errorf(protocol.CodeUnsupportedProtocol, "The HTTP method %s is not supported; use POST or GET", r.Method)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "The request body could not be read")
	}
	if len(body) > MaxBodyBytes {
		return nil, protocol.Errorf(protocol.CodeRequestEntityTooLarge, "The request body exceeds the limit of %d bytes", MaxBodyBytes)
	}

	var acct store.Account
	v := &sigv4.Verifier{
		Region:  s.cfg.Region,
		Service: "ec2",
		MaxSkew: 15 * time.Minute,
		Now:     s.cfg.Now,
		Lookup: func(ctx context.Context, id string) (sigv4.Credentials, error) {
			secret, a, err := s.cfg.Credentials.Credentials(ctx, id)
			if errors.Is(err, store.ErrUnknownKey) {
				return sigv4.Credentials{}, sigv4.ErrUnknownKey
			}
			if err != nil {
				return sigv4.Credentials{}, err
			}
			acct = a
			return sigv4.Credentials{AccessKeyID: id, SecretAccessKey: secret}, nil
		},
	}
	keyID, err := v.Verify(r.Context(), r, body)
	if err != nil {
		return nil, err
	}

	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
			return nil, protocol.Errorf(protocol.CodeInvalidRequest, "The Content-Type %q is not supported; send application/x-www-form-urlencoded", ct)
		}
		raw = string(body)
	}
	params, err := protocol.ParseQuery(raw)
	if err != nil {
		return nil, err
	}
	// Removed rather than only marked as read: the pagination tokens bind to the
	// request's parameters (Params.Canonical), and these change with every signature,
	// so a presigned GET could never continue a page it was given.
	params.Remove(presignParams...)
	return &action.Call{Params: params, Account: acct, KeyID: keyID, RequestID: requestID}, nil
}

// lookup finds the action the call names and checks the API version.
func (s *Server) lookup(call *action.Call) (action.Action, error) {
	name, ok := call.Params.String("Action")
	if !ok || name == "" {
		return action.Action{}, protocol.Errorf(protocol.CodeMissingAction, "The request must contain the parameter Action")
	}
	a, known := s.actions[name]
	if !known {
		return action.Action{}, protocol.Errorf(protocol.CodeInvalidAction, "The action %s is not valid for this web service.", sanitize(name))
	}
	call.Action = name
	version, ok := call.Params.String("Version")
	if !ok || version == "" {
		return a, protocol.MissingParameter("Version")
	}
	if !versionPattern.MatchString(version) {
		return a, protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid value '%s' for Version", sanitize(version))
	}
	return a, nil
}

// run checks that the key may call the action (permission, then rate), runs it and
// encodes its response. A read-only key is refused a mutating action even with
// DryRun, as EC2 answers UnauthorizedOperation where the call would not be allowed.
func (s *Server) run(ctx context.Context, a action.Action, call *action.Call) ([]byte, error) {
	if a.Mutating && call.Account.Permission == koalav1.PermissionReadOnly {
		return nil, protocol.Errorf(protocol.CodeUnauthorizedOperation, "You are not authorized to perform this operation.")
	}
	if s.cfg.Throttle != nil && !s.cfg.Throttle.Allow(call.KeyID, throttle.ClassOf(a.Name, a.Mutating)) {
		return nil, protocol.Errorf(protocol.CodeRequestLimitExceeded, "Request limit exceeded.")
	}
	body, err := a.Handle(ctx, call)
	if err != nil {
		return nil, err
	}
	return protocol.Marshal(a.Name, call.RequestID, body)
}

// sanitize bounds a client string echoed in a message.
func sanitize(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
