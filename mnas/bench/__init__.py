"""Measured latency: `mnas bench` times a network layer by layer on this machine, binary
layers on the bit-packed kernels against the same layers simulated in float, and writes the
latency table (mnas.cost.latency) the cost model and search can use. Imports torch."""
