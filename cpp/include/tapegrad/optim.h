// Fused optimizer updates: one call updates every parameter of a model, in place through the
// variables' copy-on-write rule (Note [Saved values never change]), with Keras's update rules
// (SEMANTICS.md section 12). The per-variable slots (velocity, Adam moments) live here, keyed by
// the variable's id, so Python hands over only gradients, variables and the step's learning rate.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "tapegrad/tensor.h"
#include "tapegrad/variable.h"

namespace tg::optim {

// Gradient clipping as Keras does it; 0 means off. norm clips each gradient to that L2 norm
// (g * c / max(|g|, c)), global_norm scales all gradients by one factor so their joint norm is
// at most c, value clamps every element to [-c, c] (after any norm clipping).
struct Clip {
  double norm = 0.0;
  double global_norm = 0.0;
  double value = 0.0;
};

// Checks every (gradient, variable) pair (shapes equal) before anything is written, so a bad
// pair raises a ValueError and leaves every variable as it was.
void check_pairs(const std::vector<Variable>& vars, const std::vector<Tensor>& grads, const char* who);

class SGD {
 public:
  SGD(double momentum, bool nesterov);
  // w -= lr*g; with momentum m: v = m*v - lr*g, then w += v (nesterov: w += m*v - lr*g).
  void apply(const std::vector<Variable>& vars, const std::vector<Tensor>& grads, double lr,
             const Clip& clip);
  // The velocity slot of a variable (undefined before its first momentum update).
  Tensor velocity(const VariableImpl& var) const;

 private:
  double momentum_;
  bool nesterov_;
  std::unordered_map<std::uint64_t, Tensor> velocity_;
};

class Adam {
 public:
  Adam(double beta_1, double beta_2, double epsilon);
  // step is t = iterations + 1. alpha = lr*sqrt(1-b2^t)/(1-b1^t); m += (g-m)(1-b1);
  // v += (g^2-v)(1-b2); w -= alpha*m/(sqrt(v)+epsilon)  (Keras's "epsilon hat" placement).
  void apply(const std::vector<Variable>& vars, const std::vector<Tensor>& grads, double lr,
             std::int64_t step, const Clip& clip);
  Tensor first_moment(const VariableImpl& var) const;
  Tensor second_moment(const VariableImpl& var) const;

 private:
  double beta_1_, beta_2_, epsilon_;
  std::unordered_map<std::uint64_t, std::pair<Tensor, Tensor>> moments_;
};

}  // namespace tg::optim
