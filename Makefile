# gosandbox: build, test, and the lab's jobs. Run as root on Linux (namespaces,
# cgroups). `make report` is the main job; `make test` runs every test.

GO          ?= go
GINKGO      ?= $(GO) run github.com/onsi/ginkgo/v2/ginkgo
BIN         := bin/gosandbox
OUT         := out
# Peers: other people's sandboxes, judged by the same suites. Their failures
# are findings, not ours, and never fail the target; a peer whose tool is
# missing is skipped with a message.
PEERS       := bwrap firejail runc
# Backends the conformance suites run on: the peers first, then ours.
BACKENDS    ?= $(PEERS) oneshot container slots
SUITE_FLAGS ?= -p --procs=2 --timeout=10m

.PHONY: all build test unit vet vagrant-boot conformance conformance-% bench report matrix vagrant-boxes vagrant-matrix docs clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gosandbox

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

# Unit and root-only integration tests beside the code, then the conformance
# suites on every available backend (they must pass where the sandbox is right).
test: vet unit conformance vagrant-boot

# The Ginkgo suites run per backend in `conformance`, not here.
unit:
	$(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v '^gosandbox/suites$$')

# One Vagrant machine booted (software emulation here, ~5 min), a few specs
# run inside, results checked; skipped with the reason where vagrant-libvirt,
# qemu or the box tools are missing. After the suites: never beside them.
vagrant-boot:
	GOSANDBOX_VAGRANT_BOOT=1 $(GO) test -count=1 -timeout 60m -v -run '^TestVagrantBootsOneMachine$$' ./harness/vm/

conformance: build
	@mkdir -p $(OUT)/conformance
	@status=0; for b in $(BACKENDS); do \
	  peer=; case " $(PEERS) " in *" $$b "*) peer=1;; esac; \
	  if [ -n "$$peer" ] && ! command -v $$b >/dev/null; then \
	    echo "conformance: skipping the peer $$b: it is not installed (apt-get install $$(test $$b = bwrap && echo bubblewrap || echo $$b))"; continue; fi; \
	  echo "== conformance on $$b"; \
	  $(GINKGO) $(SUITE_FLAGS) ./suites -- --backend=$$b --report-dir=$(CURDIR)/$(OUT)/conformance || { \
	    if [ -n "$$peer" ]; then echo "conformance: $$b is a peer: its failures are findings, not ours"; else status=1; fi; }; \
	done; exit $$status

conformance-%: build
	@mkdir -p $(OUT)/conformance
	$(GINKGO) $(SUITE_FLAGS) ./suites -- --backend=$* --report-dir=$(CURDIR)/$(OUT)/conformance

bench: build
	./$(BIN) bench --out $(OUT)/bench

# The main job: conformance on every available backend, the benchmarks, and the
# report. Conformance failures are part of the report, so they don't stop it.
report: build
	-$(MAKE) --no-print-directory conformance
	./$(BIN) bench --out $(OUT)/bench
	./$(BIN) report --in $(OUT) --out $(OUT)/report
	@echo "report: $(CURDIR)/$(OUT)/report/index.html"

# The kernel matrix: Debian kernels under qemu (software emulation), see
# `gosandbox matrix --help`. MATRIX_FLAGS narrows it, e.g.
# MATRIX_FLAGS="--kernels 6.1 --cgroups v2 --label-filter 'P1 || C1'".
MATRIX_FLAGS ?=
matrix: build
	./$(BIN) matrix --out $(OUT)/matrix $(MATRIX_FLAGS)

# The kernel matrix on real distributions (vagrant/): boxes built from Debian
# packages (bullseye 5.10, bookworm 6.1 and 6.12), one machine at a time under
# libvirt (software emulation unless a KVM guest really boots), results in
# out/matrix/vagrant-<machine>-<cgroup>/. VAGRANT_MACHINES narrows it, e.g.
# VAGRANT_MACHINES=debian12-6.1 CGROUPS=v2 BACKENDS=oneshot NO_BENCH=1.
VAGRANT_BOXES    ?= debian11-5.10 debian12-6.1 debian12-6.12
VAGRANT_MACHINES ?=
vagrant-boxes:
	@for b in $(VAGRANT_BOXES); do nice -n 10 sh vagrant/boxes/build-box.sh $$b $(OUT)/vagrant/boxes || exit 1; done

vagrant-matrix:
	GOSANDBOX_VAGRANT_DIR=$(CURDIR)/$(OUT)/vagrant sh vagrant/run-matrix.sh $(OUT)/matrix $(VAGRANT_MACHINES)

clean:
	rm -rf bin $(OUT)

# Generated documents: docs/conformance.md from the catalogue (package
# catalogue; a test fails when the file is stale).
docs:
	$(GO) generate ./catalogue
