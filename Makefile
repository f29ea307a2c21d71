# podbox build, test and install. Everything builds from go.mod: runsc comes
# from the gVisor version pinned there (a `tool` dependency), so podbox and
# runsc always match.

GO       ?= go
PREFIX   ?= $(HOME)/.local
BIN      := bin
RACE_BIN := bin-race
GVISOR   := $(shell $(GO) list -m -f '{{.Version}}' gvisor.dev/gvisor)
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X podbox.dev/podbox/sandbox.WantVersion=$(GVISOR) -X main.version=$(VERSION)
export CGO_ENABLED := 0

# Go's ./... skips testdata/; its packages are named here.
TESTDATA_PKGS := ./testdata/images/ ./testdata/images/cmd/mkdemo ./testdata/testapp

.PHONY: all build test unit integration race bench demo install vet fmt clean

all: build

build: $(BIN)/podbox $(BIN)/runsc $(BIN)/podbox-pause

# Go's build cache makes these cheap when nothing changed.
# urfave_cli_no_docs leaves out urfave/cli's man page and Markdown
# generators (podbox uses neither) and the Markdown parser behind them, whose
# initialisation every command paid for (docs/performance.md, CLI cost).
PODBOX_BUILD := $(GO) build -trimpath -tags urfave_cli_no_docs -ldflags '$(LDFLAGS)'

$(BIN)/podbox: FORCE
	$(PODBOX_BUILD) -o $@ ./cmd/podbox

$(BIN)/podbox-pause: FORCE
	$(GO) build -trimpath -ldflags '-s -w' -o $@ ./cmd/podbox-pause

$(BIN)/runsc: go.mod go.sum
	$(GO) build -trimpath -ldflags '-X gvisor.dev/gvisor/runsc/version.version=$(GVISOR)' -o $@ gvisor.dev/gvisor/runsc

FORCE:

# All tests: unit tests of every package, then the integration suite, which
# runs real gVisor sandboxes as the calling (unprivileged) user.
test: unit integration

unit:
	$(GO) test ./... $(TESTDATA_PKGS)

integration: build
	PODBOX_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 15m ./integration/ -tags integration -v

# The same tests under the race detector, which needs cgo. The integration
# suite drives $(RACE_BIN)/podbox built with -race, so the supervisor and
# every CLI process are checked too (the harness fails the run on their
# reports); runsc and podbox-pause are the ordinary ones.
race: build
	CGO_ENABLED=1 $(GO) test -race ./... $(TESTDATA_PKGS)
	mkdir -p $(RACE_BIN)
	CGO_ENABLED=1 $(PODBOX_BUILD) -race -o $(RACE_BIN)/podbox ./cmd/podbox
	cp $(BIN)/runsc $(BIN)/podbox-pause $(RACE_BIN)/
	PODBOX_BIN=$(CURDIR)/$(RACE_BIN) CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 45m ./integration/ -tags integration -v

# Benchmarks (not tests): image pull speed beside crane and, if installed,
# skopeo; a second pull must transfer nothing. The NAT alone (kernel client),
# then the pod network end to end beside native loopback and rootless podman;
# pod start, memory, density and probe cost beside rootless podman and
# `runsc do` (one table of medians and pair-wise ratios; docs/performance.md).
bench: build
	$(GO) test ./image/ -run '^$$' -bench BenchmarkPull -benchtime 3x
	$(GO) test ./netstack/ -run '^$$' -bench BenchmarkNAT -benchtime 3s
	PODBOX_BIN=$(CURDIR)/$(BIN) PODBOX_NET_BENCH=1 $(GO) test -count=1 -tags integration -run TestNetworkBench -v ./integration/
	PODBOX_BIN=$(CURDIR)/$(BIN) PODBOX_POD_BENCH=1 $(GO) test -count=1 -timeout 60m -tags integration -run TestPodBench -v ./integration/

vet:
	$(GO) vet ./... $(TESTDATA_PKGS)
	$(GO) vet -tags integration ./integration/
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then \
		echo "$$unformatted"; echo "gofmt: the files above need formatting"; exit 1; fi

# The demo: build, put a demo image (made from testdata, no registry) into
# the local store, run a two-container pod, show it and its logs.
demo: build
	$(GO) run ./testdata/images/cmd/mkdemo $(BIN)/demo-image.tar
	$(BIN)/podbox image load -i $(BIN)/demo-image.tar
	@$(BIN)/podbox delete pod demo --grace-period=1 >/dev/null 2>&1 || true
	$(BIN)/podbox apply -f testdata/demo/pod.yaml
	@for i in $$(seq 100); do \
		$(BIN)/podbox get pod demo | grep -q ' Running ' && break; sleep 0.2; done
	$(BIN)/podbox get pods
	@sleep 2
	$(BIN)/podbox logs demo -c web
	$(BIN)/podbox logs demo -c client
	$(BIN)/podbox exec demo -c client -- wget -qO- http://127.0.0.1:8080/
	@echo "The demo pod keeps running: try '$(BIN)/podbox get pod demo -o yaml', then '$(BIN)/podbox delete pod demo'."

install: build
	install -d $(PREFIX)/bin
	install -m 0755 $(BIN)/podbox $(BIN)/runsc $(BIN)/podbox-pause $(PREFIX)/bin/

clean:
	rm -rf $(BIN) $(RACE_BIN)
