# Koala's build. The README's two commands: `make run` (the local stack) and `make test`
# (the whole suite). Every tool comes through the Go module proxy at a pinned version.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

BIN            := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
HELM           := $(BIN)/helm
# Images: the tag, and the platforms (comma-separated) each image holds.
IMAGE_TAG       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE_PLATFORMS ?= linux/$(shell go env GOARCH)
# kube-apiserver and etcd, built from source the first time (minutes), then cached.
CONTROLPLANE    = $(shell hack/build-controlplane.sh)
FUZZTIME       ?= 10s

.PHONY: build generate manifests verify-generated lint lint-chart image test test-unit test-e2e fuzz run bench clean

## build: compile every binary into bin/
build: generate
	go build -o $(BIN)/ ./cmd/...

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	go -C hack/tools build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

$(HELM): hack/tools/go.mod hack/tools/go.sum hack/build-helm.sh
	hack/build-helm.sh $(HELM)

## generate: deep-copy functions of the API types
generate: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) object paths=./api/...

## manifests: CRDs, RBAC, the KubeVirt/CDI/CSI snapshot/Multus CRDs the stack installs, the instance type catalog
manifests: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases \
		rbac:roleName=koala-operator paths=./controllers/... paths=./internal/operator/... output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) rbac:roleName=koala-ec2 paths=./internal/ec2/store/... output:rbac:artifacts:config=config/rbac/ec2
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=kubevirt.io/api/core/v1 paths=kubevirt.io/api/instancetype/v1beta1 \
		paths=kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1 \
		paths=github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1 \
		paths=github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1 \
		paths=github.com/k8snetworkplumbingwg/multi-networkpolicy/pkg/apis/k8s.cni.cncf.io/v1beta1 output:crd:artifacts:config=$$tmp; \
	go run ./hack/thirdpartycrds -in $$tmp -out config/crd/thirdparty
	go run ./hack/instancetypes > config/instancetypes/catalog.yaml
	hack/sync-chart.sh

## verify-generated: fail if generated files differ from what is committed
verify-generated:
	hack/verify-generated.sh

## lint: gofmt and go vet
lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n "$$bad" ]]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi
	go vet ./...
	go vet -tags e2e ./test/e2e/...
	go -C hack/image vet ./...

## lint-chart: helm lint of the chart, with its default values and with every feature on
lint-chart: $(HELM)
	$(HELM) lint --strict charts/koala
	$(HELM) lint --strict charts/koala -f charts/koala/ci/all-features-values.yaml

## image: OCI image archives of koala-operator and koala-ec2 in bin/images, without a
## Docker engine (IMAGE_TAG, IMAGE_PLATFORMS=linux/amd64,linux/arm64)
image:
	go -C hack/image run . -root $(CURDIR) -tag $(IMAGE_TAG) -platforms $(IMAGE_PLATFORMS) -out $(BIN)/images koala-operator koala-ec2

## test: everything: generated files, lint, unit and integration tests, fuzzing, e2e
test: verify-generated lint lint-chart test-unit fuzz test-e2e

## test-unit: unit and integration tests (envtest on the real API server)
test-unit: $(HELM)
	KUBEBUILDER_ASSETS=$(CONTROLPLANE) HELM=$(HELM) go test -count=1 ./...
	go -C hack/image test -count=1 ./...

## fuzz: run each fuzz target briefly
fuzz:
	hack/fuzz.sh $(FUZZTIME)

## test-e2e: the local stack driven by the AWS CLI, boto3 and aws-sdk-go-v2
test-e2e:
	KUBEBUILDER_ASSETS=$(CONTROLPLANE) go test -count=1 -tags e2e -timeout 20m ./test/e2e/...

## run: the local stack, in the foreground until Ctrl-C
run:
	@hack/build-controlplane.sh >/dev/null
	@echo "building koala-local (the first build compiles Kubernetes' client libraries: about a minute)"
	@go build -o $(BIN)/koala-local ./cmd/koala-local
	KUBEBUILDER_ASSETS=$$(hack/build-controlplane.sh) $(BIN)/koala-local

## bench: Go benchmarks of the hot paths, then the side-by-side run against moto_server,
## one per size in BENCH_SIZES (instances; 10000 takes about half an hour); results,
## with a plot when python3-matplotlib is installed, go to bench/results/
BENCH_SIZES ?= 1000 10000
bench:
	mkdir -p bench/results
	go test -run='^$$' -bench=. -benchmem ./internal/... | tee bench/results/go-benchmarks.txt
	KUBEBUILDER_ASSETS=$(CONTROLPLANE) BENCH_SIZES="$(BENCH_SIZES)" hack/bench-sidebyside.sh

clean:
	rm -rf $(BIN)/koala-* $(BIN)/.controlplane-build $(BIN)/images
