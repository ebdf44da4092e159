"""Bit-packed binary kernels: signs packed 64 to a word, dot products by xor and popcount
(`binary.cpp`, compiled on first use by `build`), with a pure-PyTorch path that gives the same
results (`reference`); `ops` picks between them. Importing this package imports torch."""
