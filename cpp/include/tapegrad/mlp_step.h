// Fused training steps for a stack of Dense layers with a mean-squared-error loss: batch rows
// gathered, forward, backward and the optimizer update for many steps in one call, without a
// tape. The Trainer uses it when the model is exactly that (after any Normalization prefix, which
// it applies to the data once); every other model trains through GradientTape. The arithmetic is
// the tape path's (same GEMM kernels, relu'(0) = 0, loss = mean over all elements), so both paths
// agree to float rounding; tests/test_train.py checks that.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "tapegrad/tensor.h"
#include "tapegrad/variable.h"

namespace tg::mlp {

enum class Activation { Linear, Relu, Tanh, Sigmoid };

struct DenseLayer {
  Variable kernel;  // (in, out)
  Variable bias;    // (out,) or null
  Activation activation = Activation::Linear;
};

// Applies one update: variables (kernel, bias per layer, in order) and their gradients; step is
// the index of the step within this call.
using Updater = std::function<void(const std::vector<Variable>&, const std::vector<Tensor>&, std::int64_t step)>;

struct StepsResult {
  std::vector<double> losses;  // one per step run (the last one is the non-finite one if any)
  bool non_finite = false;     // stopped at a NaN/inf loss before applying that step's update
};

// Runs `steps` steps on batches X[idx[s*batch : (s+1)*batch]] (X (N, in), Y (N, out), both the
// layers' dtype). With stop_on_non_finite the first non-finite loss ends the run without an update.
// Throws ValueError/IndexError (before any update) for shapes or indices that do not fit.
StepsResult train_steps(const std::vector<DenseLayer>& layers, const Tensor& X, const Tensor& Y,
                        const std::int64_t* idx, std::int64_t steps, std::int64_t batch,
                        bool stop_on_non_finite, const Updater& update);

// The stack's output for every row of X (N, in): forward only, no tape (validation, predict).
Tensor predict(const std::vector<DenseLayer>& layers, const Tensor& X);

}  // namespace tg::mlp
