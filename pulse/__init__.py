"""PulseEcom: plain, importable logic that the Flink operators run."""
