// Command koala-ec2 serves the EC2 API: AWS CLI, SDK and Terraform calls become reads
// and writes of Koala resources. It keeps no state and can run as several replicas.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/koala-dev/koala/internal/ec2/endpoint"
	"github.com/koala-dev/koala/internal/ec2/throttle"
	"github.com/koala-dev/koala/internal/memlimit"
	"github.com/koala-dev/koala/internal/tlsreload"
)

// bucketFlag is a throttle bucket given as "burst,refill-per-second".
type bucketFlag struct{ b *throttle.Bucket }

func (f bucketFlag) String() string {
	if f.b == nil {
		return ""
	}
	return fmt.Sprintf("%g,%g", f.b.Burst, f.b.Refill)
}

func (f bucketFlag) Set(s string) error {
	burst, refill, ok := strings.Cut(s, ",")
	b, err1 := strconv.ParseFloat(burst, 64)
	r, err2 := strconv.ParseFloat(refill, 64)
	if !ok || err1 != nil || err2 != nil || b < 0 || r < 0 {
		return fmt.Errorf("want burst,refill-per-second (e.g. 5,2), got %q", s)
	}
	*f.b = throttle.Bucket{Burst: b, Refill: r}
	return nil
}

func main() {
	var (
		cfg          endpoint.Config
		listen       string
		metricsAddr  string
		certFile     string
		keyFile      string
		insecureHTTP bool
		throttleOn   bool
		auditPath    string
	)
	buckets := throttle.Defaults()
	runBucket, mutBucket, descBucket := buckets[throttle.ClassRunInstances], buckets[throttle.ClassMutating], buckets[throttle.ClassDescribe]
	flag.StringVar(&listen, "listen", ":8773", "Address the EC2 API is served on.")
	flag.StringVar(&certFile, "tls-cert-file", "", "TLS certificate (PEM); reloaded when the file changes.")
	flag.StringVar(&keyFile, "tls-key-file", "", "TLS private key (PEM) of the certificate.")
	flag.BoolVar(&insecureHTTP, "insecure-http", false, "Serve plain HTTP. Only behind a TLS-terminating proxy or on loopback: requests carry signatures, not secrets, but responses carry private keys (CreateKeyPair).")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; empty disables it.")
	flag.StringVar(&cfg.Region, "region", "koala-1", "The region this endpoint serves; clients must sign for it.")
	flag.StringVar(&cfg.Endpoint, "public-endpoint", "", "host[:port] clients reach this endpoint at, shown by DescribeRegions.")
	flag.StringVar(&cfg.DefaultInstanceType, "default-instance-type", "t3.micro", "Instance type launched when RunInstances names none.")
	flag.StringVar(&cfg.PlatformOwnerAlias, "platform-owner-alias", "amazon", "Owner alias of public images that no account owns.")
	flag.StringVar(&cfg.PlatformOwnerID, "platform-owner-id", "000000000000", "Owner ID of public images that no account owns.")
	flag.BoolVar(&throttleOn, "throttle", true, "Limit each access key's request rate (RequestLimitExceeded, HTTP 503).")
	flag.Var(bucketFlag{&runBucket}, "throttle-run-instances", "RunInstances bucket per key: burst,refill-per-second.")
	flag.Var(bucketFlag{&mutBucket}, "throttle-mutating", "Bucket per key of the other mutating actions: burst,refill-per-second.")
	flag.Var(bucketFlag{&descBucket}, "throttle-describe", "Bucket per key of the actions that change nothing: burst,refill-per-second.")
	flag.StringVar(&auditPath, "audit-log", "-", "Where the audit log (a JSON line per mutating call) goes: a file, - for standard output, empty for nowhere.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("ec2")
	cfg.Log = log
	if limit, err := memlimit.Apply(os.Getenv); err != nil {
		log.Error(err, "ignoring the memory limit")
	} else if limit > 0 {
		log.V(1).Info("soft memory limit", "bytes", limit)
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = listen
	}
	fail := func(err error, msg string) {
		log.Error(err, msg)
		os.Exit(1)
	}

	var tlsConfig *tls.Config
	switch {
	case certFile != "" && keyFile != "":
		kp, err := tlsreload.Load(certFile, keyFile)
		if err != nil {
			fail(err, "loading the TLS certificate")
		}
		tlsConfig = &tls.Config{GetCertificate: kp.GetCertificate, MinVersion: tls.VersionTLS12}
	case certFile != "" || keyFile != "":
		fail(errors.New("give both -tls-cert-file and -tls-key-file"), "configuring TLS")
	case !insecureHTTP:
		fail(errors.New("no -tls-cert-file and -tls-key-file, and plain HTTP not allowed (-insecure-http)"), "configuring TLS")
	}
	if throttleOn {
		cfg.Throttle = map[throttle.Class]throttle.Bucket{
			throttle.ClassRunInstances: runBucket, throttle.ClassMutating: mutBucket, throttle.ClassDescribe: descBucket,
		}
	}
	switch auditPath {
	case "":
	case "-":
		cfg.Audit = os.Stdout
	default:
		f, err := os.OpenFile(auditPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			fail(err, "opening the audit log")
		}
		defer f.Close()
		cfg.Audit = io.Writer(f)
	}

	ctx := ctrl.SetupSignalHandler()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	cfg.Registerer = reg
	ep, err := endpoint.Start(ctx, ctrl.GetConfigOrDie(), cfg)
	if err != nil {
		fail(err, "starting the EC2 endpoint")
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fail(err, "listening")
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	api := &http.Server{Handler: ep.Handler, ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 2)
	go func() { errs <- api.Serve(ln) }()
	servers := []*http.Server{api}
	if metricsAddr != "" && metricsAddr != "0" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		metrics := &http.Server{Addr: metricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, metrics)
		go func() { errs <- metrics.ListenAndServe() }()
	}
	log.Info("serving the EC2 API", "address", listen, "region", cfg.Region, "tls", tlsConfig != nil)
	select {
	case <-ctx.Done():
	case err := <-errs:
		if !errors.Is(err, http.ErrServerClosed) {
			fail(err, "serving")
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
}
