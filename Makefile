# PulseEcom: `make demo` shows the product end to end, `make test` runs every test (CI runs exactly that).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO := .data/demo

.PHONY: install jars browser services-up services-down demo test lint clean cluster-up cluster-down bench

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip check
	touch $@

demo: install
	rm -rf $(DEMO)
	$(BIN)/pulse validate
	$(BIN)/pulse generate --out $(DEMO)/events.jsonl --broken-rate 0.02
	$(BIN)/pulse run --input $(DEMO)/events.jsonl --clickhouse chdb://$(CURDIR)/$(DEMO)/clickhouse --run-id demo
	@echo; echo "Analyst query: revenue, orders and alerts per tenant"
	$(BIN)/pulse query --clickhouse chdb://$(CURDIR)/$(DEMO)/clickhouse \
	  "SELECT s.tenant_id AS tenant, countIf(event_type = 'order_placed') AS orders, \
	          round(sumIf(amount, event_type = 'payment_succeeded'), 2) AS revenue, \
	          round(avgIf(amount, event_type = 'order_placed'), 2) AS avg_order, \
	          any(a.alerts) AS alerts \
	   FROM scored_events AS s FINAL \
	   LEFT JOIN (SELECT tenant_id, count() AS alerts FROM alerts FINAL GROUP BY tenant_id) AS a USING (tenant_id) \
	   GROUP BY tenant ORDER BY revenue DESC"
	@echo; echo "Incidents (alerts grouped, summarised, resolved in event time) by pulse dispatch"
	$(BIN)/pulse dispatch --once --clickhouse chdb://$(CURDIR)/$(DEMO)/clickhouse
	$(BIN)/pulse query --clickhouse chdb://$(CURDIR)/$(DEMO)/clickhouse \
	  "SELECT tenant_id, status, alert_count, summary FROM incidents FINAL ORDER BY tenant_id, opened_at LIMIT 6"

# Java artifacts from pom.xml: the Kafka broker, and Flink's Kafka connector with the zstd codec the job reads with
# (idempotent; .jars/flink holds exactly the jars of pom.xml's flink profile, which local and cluster jobs load).
jars: .jars/kafka/.done .jars/flink/.done

.jars/kafka/.done: pom.xml
	mvn -q -B dependency:copy-dependencies -Pkafka -DoutputDirectory=.jars/kafka
	touch $@

.jars/flink/.done: pom.xml
	rm -rf .jars/flink
	mvn -q -B dependency:copy-dependencies -P'!kafka,flink' -DexcludeTransitive=true -DoutputDirectory=.jars/flink
	touch $@

# Debian's chromium for the dashboard browser tests (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }

# Local services (a single-node Kafka on 127.0.0.1:$${PULSE_KAFKA_PORT:-19592}); both idempotent.
services-up: jars
	scripts/kafka.sh up

services-down:
	scripts/kafka.sh down

lint: install
	$(BIN)/ruff check .

test: install jars browser
	$(BIN)/ruff check .
	$(MAKE) services-up
	$(BIN)/pytest; status=$$?; $(MAKE) services-down; exit $$status

# A standalone Flink cluster on 127.0.0.1 (JobManager + TaskManager, ports 19700-19799), state under .run/cluster.
cluster-up: install
	$(BIN)/python -m pulse.dev.cluster up

cluster-down: install
	$(BIN)/python -m pulse.dev.cluster down

bench: install jars
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.tenants --cluster

clean:
	rm -rf .data .run .pytest_cache
