// Package endpoint assembles the EC2 endpoint: the store, every action group, and the
// HTTP server that dispatches to them. cmd/koala-ec2 and the local stack build it here.
package endpoint

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/koala-dev/koala/internal/ec2/audit"
	"github.com/koala-dev/koala/internal/ec2/handlers/addresses"
	"github.com/koala-dev/koala/internal/ec2/handlers/images"
	"github.com/koala-dev/koala/internal/ec2/handlers/instances"
	"github.com/koala-dev/koala/internal/ec2/handlers/instancetypes"
	"github.com/koala-dev/koala/internal/ec2/handlers/keypairs"
	"github.com/koala-dev/koala/internal/ec2/handlers/regions"
	"github.com/koala-dev/koala/internal/ec2/handlers/securitygroups"
	"github.com/koala-dev/koala/internal/ec2/handlers/snapshots"
	"github.com/koala-dev/koala/internal/ec2/handlers/subnets"
	"github.com/koala-dev/koala/internal/ec2/handlers/tags"
	"github.com/koala-dev/koala/internal/ec2/handlers/volumes"
	"github.com/koala-dev/koala/internal/ec2/handlers/vpcs"
	"github.com/koala-dev/koala/internal/ec2/server"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ec2/throttle"
	"github.com/koala-dev/koala/internal/quota"
	"github.com/koala-dev/koala/internal/scheme"
)

// Config configures the endpoint.
type Config struct {
	Region string
	// Endpoint is the host[:port] clients reach the endpoint at (DescribeRegions).
	Endpoint string
	// DefaultInstanceType is launched when RunInstances names none.
	DefaultInstanceType string
	// PlatformOwnerID and PlatformOwnerAlias name the owner of public images that no
	// account owns.
	PlatformOwnerID    string
	PlatformOwnerAlias string
	Log                logr.Logger
	// Registerer receives the endpoint's metrics; nil registers none.
	Registerer prometheus.Registerer
	Now        func() time.Time
	// Throttle are the request buckets of each key per action class (throttle.Defaults
	// are EC2's); nil turns throttling off.
	Throttle map[throttle.Class]throttle.Bucket
	// Audit receives one JSON line per mutating call; nil writes none.
	Audit io.Writer
}

// Endpoint is a running EC2 endpoint's handler and its store.
type Endpoint struct {
	Handler http.Handler
	Store   *store.Store
}

// Start builds the store on the API server at cfg, starts its cache (returning once it
// has synced) and assembles the handler. The cache runs until ctx ends.
func Start(ctx context.Context, restCfg *rest.Config, cfg Config) (*Endpoint, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DefaultInstanceType == "" {
		cfg.DefaultInstanceType = "t3.micro"
	}
	if cfg.PlatformOwnerAlias == "" {
		cfg.PlatformOwnerAlias = "amazon"
	}
	if cfg.PlatformOwnerID == "" {
		cfg.PlatformOwnerID = "000000000000"
	}
	st, err := store.New(restCfg, store.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	if err := st.Start(ctx); err != nil {
		return nil, err
	}
	var metrics *server.Metrics
	if cfg.Registerer != nil {
		if metrics, err = server.NewMetrics(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	scfg := server.Config{Region: cfg.Region, Credentials: st, Now: cfg.Now, Log: cfg.Log, Metrics: metrics}
	if cfg.Throttle != nil {
		scfg.Throttle = throttle.New(cfg.Throttle, cfg.Now)
	}
	if cfg.Audit != nil {
		scfg.Audit = audit.New(cfg.Audit)
	}
	// One set of quota locks: launches, volumes, snapshots and images count against
	// the same limits of an account.
	locks := &quota.Locks{}
	srv, err := server.New(scfg,
		(&instances.Handlers{Store: st, Region: cfg.Region, DefaultInstanceType: cfg.DefaultInstanceType, Now: cfg.Now, QuotaLocks: locks}).Actions(),
		(&instancetypes.Handlers{Store: st}).Actions(),
		(&images.Handlers{Store: st, PlatformOwnerID: cfg.PlatformOwnerID, PlatformOwnerAlias: cfg.PlatformOwnerAlias, QuotaLocks: locks}).Actions(),
		(&keypairs.Handlers{Store: st}).Actions(),
		(&tags.Handlers{Store: st}).Actions(),
		(&volumes.Handlers{Store: st, Region: cfg.Region, Now: cfg.Now, QuotaLocks: locks}).Actions(),
		(&snapshots.Handlers{Store: st, Region: cfg.Region, Now: cfg.Now, QuotaLocks: locks}).Actions(),
		(&regions.Handlers{Store: st, Region: cfg.Region, Endpoint: cfg.Endpoint}).Actions(),
		(&vpcs.Handlers{Store: st}).Actions(),
		(&subnets.Handlers{Store: st, Region: cfg.Region}).Actions(),
		(&securitygroups.Handlers{Store: st, Region: cfg.Region}).Actions(),
		(&addresses.Handlers{Store: st, Region: cfg.Region}).Actions(),
	)
	if err != nil {
		return nil, err
	}
	return &Endpoint{Handler: srv, Store: st}, nil
}
