# SmartInfinity — the two commands a new user needs are `make run` and `make test`.
SWIFT      ?= swift
# Kernels are built for this CPU: AVX-512/AVX2 SIMD, F16C conversion (see FIELD-NOTES).
NATIVE     := -Xswiftc -target-cpu -Xswiftc native -Xcc -march=native
RELEASE    := -c release $(NATIVE)
BIN        := .build/release
OUT        := out

.PHONY: deps build run test bench bench-suite clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build $(RELEASE) --product smartinf
	$(SWIFT) build $(RELEASE) --product smartssd

# The main demo. Until the trainer lands it benchmarks the numeric core at small sizes and saves
# the figures as JSON under $(OUT)/.
run: build
	@mkdir -p $(OUT)
	$(BIN)/smartinf bench optim --params 8M --threads 1,2 --optimizer adamw,sgd,adagrad --save $(OUT)/bench-optim.json
	$(BIN)/smartinf bench topk --elements 8M --ratio 0.01 --save $(OUT)/bench-topk.json
	$(BIN)/smartinf bench device --params 16M --dram 128MiB --repetitions 2 --save $(OUT)/bench-device.json
	@echo "figures saved in $(OUT)/bench-optim.json, $(OUT)/bench-topk.json and $(OUT)/bench-device.json"

test: deps
	$(SWIFT) test $(NATIVE)

# Full-size benchmarks (the issue goals are stated at 64M elements).
bench: build
	$(BIN)/smartinf bench optim --params 64M --threads 1,2
	$(BIN)/smartinf bench optim --params 64M --threads 1,2 --grad fp32 --copy-out none --optimizer adamw,sgd,sgd:torch,adagrad,adagrad:torch
	$(BIN)/smartinf bench topk --elements 64M --ratio 0.01
	$(BIN)/smartinf bench io --file /var/tmp/smartinf-bench-io.bin --size 2GiB
	$(BIN)/smartinf bench device --params 256M --dram 1GiB

# Regression-tracking suites (ordo-one/benchmark), built in their own folder so that the
# benchmark package never slows down `make test`.
bench-suite: deps
	SMARTINF_BENCHMARKS=1 $(SWIFT) package --scratch-path .build-bench $(NATIVE) benchmark

clean:
	rm -rf .build $(OUT)
