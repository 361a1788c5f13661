# `make test` is the README's test command: it sets up what is missing, then runs the whole suite on the
# containerd image store (Docker 29's default: GitHub's ubuntu-latest, Docker Desktop), then again, on the classic
# store (ubuntu-24.04's Docker 28), the tests marked image_store: those whose code path or result differs by store
# (which and why: CONTRIBUTING.md, Engines). The bootstrap switches the store of an engine it started itself.
PYTEST := .venv/bin/python -m pytest
# The tiers, each a marker expression; together they are the whole suite. The fast tier needs no engine and no root
# (rendering, hooks, linters, the action's validation, the harness): its tests are CPU-bound and share nothing, so
# they run on every core (pytest-xdist). The engine and act tiers wait on builds, containers and runners about half
# the time, so `make test` runs them side by side on two pytest-xdist workers (the emulated builds first on one, the
# other tests by module on whichever is free: tests/conftest.py), sharing one stand-in registry on port 443
# (--shared-hub), and so does the classic store's pass; the swarm tier, whose tests hold requests to a deadline, runs
# alone. GitHub's CI runs a job per tier (.github/workflows/ci.yml); `make test` runs them all.
TIERS := fast engine act swarm
TIER_fast := not docker and not act and not venv and not swarm
TIER_engine := (docker or venv) and not act and not swarm
TIER_act := act and not swarm
TIER_swarm := swarm
parallel = $(if $(filter fast,$(1)),--numprocesses auto)
side_by_side := --numprocesses 2 --shared-hub
# benchmarks/suite.py names a folder in REPORTS: each pass then writes its JUnit XML report there (every test's time).
report = $(if $(REPORTS),--junitxml=$(REPORTS)/$(1).xml)

.PHONY: test test-classic-store test-fast tier tiers bench bootstrap pipeline

# The bootstrap's base images (minutes on a bare machine: debootstrap, downloads) are made beside the fast tier, which
# needs none; the bootstrap's log follows the tier's.
test:
	TRACKER_CI_IMAGE_STORE=containerd bash scripts/bootstrap.sh --no-base-images
	images_log=$$(mktemp); \
	TRACKER_CI_IMAGE_STORE=containerd bash scripts/bootstrap.sh >"$$images_log" 2>&1 & images=$$!; \
	$(PYTEST) $(call parallel,fast) -m "$(TIER_fast)" $(call report,fast); fast=$$?; \
	wait $$images; made=$$?; cat "$$images_log"; rm -f "$$images_log"; \
	[ $$fast -eq 0 ] && [ $$made -eq 0 ]
	TRACKER_CI_IMAGE_STORE=containerd $(PYTEST) $(side_by_side) -m "($(TIER_engine)) or ($(TIER_act))" $(call report,containerd)
	TRACKER_CI_IMAGE_STORE=containerd $(PYTEST) -m "$(TIER_swarm)" $(call report,swarm)
	$(MAKE) test-classic-store

test-classic-store:
	TRACKER_CI_IMAGE_STORE=classic bash scripts/bootstrap.sh
	TRACKER_CI_IMAGE_STORE=classic $(PYTEST) $(side_by_side) -m image_store $(call report,classic)

# Its bootstrap sets up only the venv, the Node linters and Compose's plugin link, in the user's own folders.
test-fast:
	bash scripts/bootstrap.sh --tools-only
	$(PYTEST) $(call parallel,fast) -m "$(TIER_fast)" $(call report,fast)

# One tier on the containerd store, after `make bootstrap`: make tier TIER=act
tier:
	$(if $(TIER_$(TIER)),,$(error TIER must be one of: $(TIERS)))
	TRACKER_CI_IMAGE_STORE=containerd $(PYTEST) $(call parallel,$(TIER)) -m "$(TIER_$(TIER))" $(call report,$(TIER))

# Each tier's name and marker expression, a line each (benchmarks/suite.py reads them).
tiers:
	@$(foreach tier,$(TIERS),echo '$(tier)=$(TIER_$(tier))';)

bootstrap:
	bash scripts/bootstrap.sh

# The reusable workflow from its source, templates/pipeline.yml (tests/test_pipeline_workflow.py checks they agree).
pipeline:
	.venv/bin/python -m testkit.pipeline

# Benchmarks print tables and write benchmarks/results/*.json; they assert nothing about speed.
bench: bootstrap
	.venv/bin/python -m benchmarks.throughput
	.venv/bin/python -m benchmarks.image_size
	.venv/bin/python -m benchmarks.pipeline
	.venv/bin/python -m benchmarks.swarm
	.venv/bin/python -m benchmarks.suite
