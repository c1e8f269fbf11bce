"""The scoring job's per-tenant logic, plain Python that the Flink operators run."""
