# SmartInfinity — the two commands a new user needs are `make run` and `make test`.
SWIFT      ?= swift
SHELL      := /bin/bash
.SHELLFLAGS := -o pipefail -c
# Kernels are built for this CPU: AVX-512/AVX2 SIMD, F16C conversion (see FIELD-NOTES).
NATIVE     := -Xswiftc -target-cpu -Xswiftc native -Xcc -march=native
RELEASE    := -c release $(NATIVE)
BIN        := .build/release
OUT        := out
PYTHON     ?= python3

.PHONY: report-png soak soak-host deps build run test test-python python-deps bench bench-torch bench-suite fuzz big model-check clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build $(RELEASE) --product smartinf
	$(SWIFT) build $(RELEASE) --product smartssd

# The main demo: train a small GPT on the shipped corpus with its optimizer on 4 emulated SmartSSDs
# (su+o+c), print the phase breakdown, and leave the metrics, the checkpoint and the log in
# $(OUT)/; then the numeric core's benchmarks at small sizes.
DEMO_SSD   := /var/tmp/smartinf-demo-ssd
run: build
	@mkdir -p $(OUT)
	@[ -f $(OUT)/corpus/train.bin ] || $(BIN)/smartinf corpus --out $(OUT)/corpus
	$(BIN)/smartinf train --init gpt2:4,8,256,64,256 --train-data $(OUT)/corpus/train.bin \
	    --val-data $(OUT)/corpus/val.bin --val-every 100 --steps 400 --batch 8 --seq 64 \
	    --lr 1e-3 --lr-schedule cosine --warmup 20 --min-lr 1e-4 --mode su+o+c --topk-ratio 0.1 \
	    --devices 4 --dram 64MiB --ssd-dir $(DEMO_SSD) --blas-threads 2 --explain \
	    --metrics $(OUT)/metrics.jsonl --save-checkpoint $(OUT)/checkpoint \
	    --clock virtual --trace $(OUT)/train-trace.jsonl | tee $(OUT)/train.log
	$(BIN)/smartinf export $(OUT)/train-trace.jsonl --perfetto $(OUT)/train-trace.perfetto.json
	$(BIN)/smartinf bench optim --params 8M --threads 1,2 --optimizer adamw,sgd,adagrad --save $(OUT)/bench-optim.json
	$(BIN)/smartinf bench topk --elements 8M --ratio 0.01 --save $(OUT)/bench-topk.json
	$(BIN)/smartinf synth --preset gpt2-4.0b --devices 10 --mode su+o+c --save $(OUT)/trace.jsonl
	$(BIN)/smartinf export $(OUT)/trace.jsonl --perfetto $(OUT)/trace.perfetto.json
	$(BIN)/smartinf sweep --out $(OUT)/sweep.csv
	$(BIN)/smartinf report $(OUT)/sweep.csv --out $(OUT)/report
	$(BIN)/smartinf validate | tee $(OUT)/validate.txt
	@# The PyTorch face: a small GPT in plain PyTorch whose AdamW lives on 4 devices (su+o+c).
	$(SWIFT) build $(RELEASE) --product smartinfinity
	@$(MAKE) --no-print-directory python-deps
	SMARTINF_LIBRARY=$(abspath $(BIN)/libsmartinfinity.so) PYTHONPATH=$(abspath python) \
	    $(PYTHON) examples/torch_gpt.py --data $(OUT)/corpus --steps 60 | tee $(OUT)/torch-gpt.log
	@echo "saved in $(OUT)/: train.log, metrics.jsonl, checkpoint/ (model.bin in llm.c format, trainer-state.json), bench-*.json,"
	@echo "  train-trace.jsonl + train-trace.perfetto.json (the run, modeled and wall times; open in ui.perfetto.dev),"
	@echo "  trace.jsonl + trace.perfetto.json (GPT-2 4.0B synthesized), sweep.csv, report/index.html, validate.txt,"
	@echo "  torch-gpt.log (the PyTorch GPT with its AdamW on the devices)"

# Render the study report in headless Chromium (Debian's chromium package) to check it in a real browser.
report-png: build
	@mkdir -p $(OUT)
	$(BIN)/smartinf sweep --out $(OUT)/sweep.csv
	$(BIN)/smartinf report $(OUT)/sweep.csv --out $(OUT)/report
	scripts/render-report.sh $(abspath $(OUT))/report $(OUT)/report.png

# The Swift suite, then the Python package's tests against torch (the library and the device
# executable built for them; torch's CPU wheel and pytest installed if missing).
test: deps
	$(SWIFT) test $(NATIVE)
	$(MAKE) test-python

# The Python package's dependencies, if missing: torch's CPU wheel (this kind of machine has it on
# pip's local wheel path), pytest and numpy.
python-deps:
	@$(PYTHON) -c "import torch, pytest, numpy" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.*" pytest numpy

test-python: python-deps
	$(SWIFT) build $(NATIVE) --product smartinfinity
	$(SWIFT) build $(NATIVE) --product smartssd
	$(SWIFT) build $(NATIVE) --product smartinf
	SMARTINF_LIBRARY=$(abspath .build/debug/libsmartinfinity.so) PYTHONPATH=$(abspath python) $(PYTHON) -m pytest -q python/tests

# Full-size benchmarks (the issue goals are stated at 64M elements).
bench: build
	$(BIN)/smartinf bench optim --params 64M --threads 1,2
	$(BIN)/smartinf bench optim --params 64M --threads 1,2 --grad fp32 --copy-out none --optimizer adamw,sgd,sgd:torch,adagrad,adagrad:torch
	$(BIN)/smartinf bench topk --elements 64M --ratio 0.01
	$(BIN)/smartinf bench io --file /var/tmp/smartinf-bench-io.bin --size 2GiB
	$(BIN)/smartinf bench device --params 256M --dram 1GiB

# The optimizer step from PyTorch (smartinfinity.AdamW.step through libsmartinfinity) against the
# Swift trainer's grad_check + update phases at the same size, devices, mode and DRAM, in
# BENCH_TORCH_PAIRS interleaved pairs (a block of BENCH_TORCH_STEPS timed steps of each side, the
# order alternating), and torch.optim.AdamW in RAM (foreach, fused) in the same run: the median of
# the pairs' ratios and its interquartile range, and params/s (docs/BENCHMARKS.md). GPT-2 small
# (124M) on 4 devices, 10 pairs by default (each starts a trainer and an optimizer afresh);
# BENCH_TORCH_MODEL=gpt2:2,4,128,64,512 BENCH_TORCH_PAIRS=4 is a quick run.
BENCH_TORCH_MODEL   ?= gpt2:12,12,768,1024,50257
BENCH_TORCH_DEVICES ?= 4
BENCH_TORCH_PAIRS   ?= 10
BENCH_TORCH_STEPS   ?= 3
bench-torch: build python-deps
	$(SWIFT) build $(RELEASE) --product smartinfinity
	@mkdir -p $(OUT)
	SMARTINF_LIBRARY=$(abspath $(BIN)/libsmartinfinity.so) PYTHONPATH=$(abspath python) $(PYTHON) python/benchmarks/bench_torch.py \
	    --smartinf $(BIN)/smartinf --model $(BENCH_TORCH_MODEL) --devices $(BENCH_TORCH_DEVICES) \
	    --pairs $(BENCH_TORCH_PAIRS) --steps $(BENCH_TORCH_STEPS) --dir /var/tmp/smartinf-bench-torch --save $(OUT)/bench-torch.json

# The model against this machine (not against itself): measure the disk (bench io at depths 1 and
# 16), the AdamW kernel and memory copy (bench optim) and the CPU's forward/backward rates on the
# checked model (bench train), build this machine's profiles from them, predict base, su and su+o
# at 1, 2 and 4 devices, run each live with --clock wall and print predicted vs measured per phase.
# The defaults are GPT-2 small (124M parameters: the update is I/O-bound) and take a quiet machine
# about 5 minutes and ~8 GB of disk; CHECK_MODEL=gpt2:4,4,256,64,256 CHECK_STEPS=2 is a smoke test.
# Six steps: the first is a warm-up and the median of the other five is compared (with two, one
# step's noise on this kind of shared machine, up to ±15% on the same forward, decided a point).
CHECK_MODEL   ?= gpt2:12,12,768,1024,50257
CHECK_BATCH   ?= 4
CHECK_SEQ     ?= 64
CHECK_STEPS   ?= 6
CHECK_DEVICES ?= 1,2,4
CHECK_MODES   ?= base,su,su+o
CHECK_DRAM    ?= 1GiB
CHECK_IO      ?= 4GiB
CHECK_SSD     ?= /var/tmp/smartinf-model-check
CHECK_OUT     := $(OUT)/model-check
model-check: build
	@mkdir -p $(CHECK_OUT) $(CHECK_SSD)
	@[ -f $(OUT)/corpus/train.bin ] || $(BIN)/smartinf corpus --out $(OUT)/corpus
	$(BIN)/smartinf bench io --file $(CHECK_SSD)/io.bin --size $(CHECK_IO) --queue-depths 1,16 --no-fio --json --save $(CHECK_OUT)/io.json > /dev/null
	rm -f $(CHECK_SSD)/io.bin
	$(BIN)/smartinf bench optim --params 16M --threads 1 --optimizer adamw --json --save $(CHECK_OUT)/optim.json > /dev/null
	$(BIN)/smartinf bench train --models $(CHECK_MODEL) --batch $(CHECK_BATCH) --seq $(CHECK_SEQ) --threads 2 --json --save $(CHECK_OUT)/train.json > /dev/null
	$(BIN)/smartinf model-check --io $(CHECK_OUT)/io.json --optim $(CHECK_OUT)/optim.json --train $(CHECK_OUT)/train.json \
	    --init $(CHECK_MODEL) --batch $(CHECK_BATCH) --seq $(CHECK_SEQ) --steps $(CHECK_STEPS) --modes $(CHECK_MODES) \
	    --devices $(CHECK_DEVICES) --dram $(CHECK_DRAM) --blas-threads 2 --ssd-dir $(CHECK_SSD) \
	    --train-data $(OUT)/corpus/train.bin --out $(CHECK_OUT) | tee $(CHECK_OUT)/model-check.txt

# Bigger than RAM, for real: GPT-2 XL dimensions (1.56B parameters; fp32 master + m + v + grad
# ≈ 25 GB) trained for 3 steps in bf16 with its optimizer on 2 devices whose states live only on
# their SSD files (≈ 22 GB each with fp32 states, ≈ 14 GB with 8-bit ones, in BIG_SSD): once per
# state precision in BIG_STATES, then the phases side by side (the update is what 8-bit states
# change). The disk's raw rates are measured first, in the same run, for the I/O floor. Needs
# ≈ 50 GB free disk and ≈ 16 GB of memory; takes a few minutes per precision.
BIG_SSD    := /var/tmp/smartinf-big-ssd
BIG_STATES ?= fp32 8bit
big: build
	@mkdir -p $(OUT)
	@[ -f $(OUT)/corpus/train.bin ] || $(BIN)/smartinf corpus --out $(OUT)/corpus
	$(BIN)/smartinf bench io --file $(BIG_SSD)-io.bin --size 4GiB --queue-depths 16 --no-fio --save $(OUT)/big-io.json
	rm -f $(BIG_SSD)-io.bin
	for states in $(BIG_STATES); do \
	    $(BIN)/smartinf train --init gpt2:48,25,1600,64,50257 --train-data $(OUT)/corpus/train.bin --steps 3 \
	        --batch 1 --seq 64 --mode su+o --precision bf16 --devices 2 --dram 1GiB --ssd-dir $(BIG_SSD) \
	        --blas-threads 2 --state-precision $$states --metrics $(OUT)/big-metrics-$$states.jsonl | tee $(OUT)/big-$$states.log \
	        && rm -rf $(BIG_SSD) || exit 1; \
	done
	$(PYTHON) scripts/compare-phases.py $(foreach s,$(BIG_STATES),$(s)=$(OUT)/big-metrics-$(s).jsonl)

# Regression-tracking suites (ordo-one/benchmark), built in their own folder so that the
# benchmark package never slows down `make test`.
bench-suite: deps
	SMARTINF_BENCHMARKS=1 $(SWIFT) package --scratch-path .build-bench $(NATIVE) benchmark

# Fuzz every decoder of untrusted bytes (gradient payloads, protocol frames and messages, traces,
# hardware profiles, training configs, llm.c checkpoints and token files) for FUZZ_SECONDS each
# (default 600, ten minutes per target; `make fuzz FUZZ_SECONDS=30` for a quick pass) and print
# the executions per target. libFuzzer + AddressSanitizer when the toolchain has them, the
# built-in mutation engine otherwise (fuzz/README.md). Inputs that crash are left in out/fuzz/.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=
fuzz: deps
	SWIFT="$(SWIFT)" FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_OUT=$(OUT)/fuzz fuzz/run.sh $(FUZZ_TARGETS)

# Faults under load: 8 devices, 3000 steps, a random fault per device and a device killed every
# 5 steps, recovered with --on-device-failure retry, against a fault-free run (bit-identical,
# nothing left behind). Not part of `make test`.
soak: build
	$(BIN)/smartinf soak --devices 8 --steps 3000 --kill-every 5

# Host crashes under load: the trainer SIGKILLed 200 times (in every phase of a step, mid-update,
# mid-journal, mid-checkpoint, at random instants, with a device), resumed each time with
# --resume SSD_DIR, against an uninterrupted run (bit-identical parameters, states and metrics).
# Not part of `make test` (which runs a short one).
soak-host: build
	$(BIN)/smartinf soak-host --kills 200 --steps 2000 --devices 4

clean:
	rm -rf .build $(OUT)
