"""Tools for developers: a standalone Flink cluster, the synthetic stream generator, labelled scenarios."""
