// Command koala-ec2 serves the EC2 API: AWS CLI, SDK and Terraform calls become reads
// and writes of Koala resources. It keeps no state and can run as several replicas.
package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/koala-dev/koala/internal/ec2/endpoint"
)

func main() {
	var (
		cfg         endpoint.Config
		listen      string
		metricsAddr string
	)
	flag.StringVar(&listen, "listen", ":8773", "Address the EC2 API is served on.")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; empty disables it.")
	flag.StringVar(&cfg.Region, "region", "koala-1", "The region this endpoint serves; clients must sign for it.")
	flag.StringVar(&cfg.Endpoint, "public-endpoint", "", "host[:port] clients reach this endpoint at, shown by DescribeRegions.")
	flag.StringVar(&cfg.DefaultInstanceType, "default-instance-type", "t3.micro", "Instance type launched when RunInstances names none.")
	flag.StringVar(&cfg.PlatformOwnerAlias, "platform-owner-alias", "amazon", "Owner alias of public images that no account owns.")
	flag.StringVar(&cfg.PlatformOwnerID, "platform-owner-id", "000000000000", "Owner ID of public images that no account owns.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("ec2")
	cfg.Log = log
	if cfg.Endpoint == "" {
		cfg.Endpoint = listen
	}

	ctx := ctrl.SetupSignalHandler()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	cfg.Registerer = reg
	ep, err := endpoint.Start(ctx, ctrl.GetConfigOrDie(), cfg)
	if err != nil {
		log.Error(err, "starting the EC2 endpoint")
		os.Exit(1)
	}
	servers := []*http.Server{{Addr: listen, Handler: ep.Handler, ReadHeaderTimeout: 10 * time.Second}}
	if metricsAddr != "" && metricsAddr != "0" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		servers = append(servers, &http.Server{Addr: metricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second})
	}
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func(s *http.Server) { errs <- s.ListenAndServe() }(s)
	}
	log.Info("serving the EC2 API", "address", listen, "region", cfg.Region)
	select {
	case <-ctx.Done():
	case err := <-errs:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "serving")
			os.Exit(1)
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
}
