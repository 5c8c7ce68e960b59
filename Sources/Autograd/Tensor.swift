// Autograd layer: Tensor, kernels, tape.
