"""The scoring job: its per-tenant logic, plain Python that the Flink operators (operators/) run and that tests and
benchmarks run without Flink.

`pipeline.TenantPipeline` is one tenant's whole per-record step, built from: `scoring.TenantScorer` (rules and the
risk model), `metric_alerts.MetricRows` (the metric detectors' rows), `usage.meter` (usage counts, quota alerts,
overage), `duplicates.SeenIds` (repeated event ids), `alerts.alert_row` (the `alerts` row of every producer) and
`rule_updates` (rules published to the running job). `kept` is the versioned form of the state Flink keeps;
`gc_tuning.tune` sets the garbage collector for a process that runs the step.
"""
