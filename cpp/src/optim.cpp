#include "tapegrad/optim.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "tapegrad/errors.h"
#include "tapegrad/kernels.h"

namespace tg::optim {

namespace {

// The gradient in the variable's dtype (a cast copy only when they differ).
template <class T> Tensor as_dtype(const Tensor& g) {
  if (g.dtype() == dtype_of<T>::value) return g;
  Tensor out = Tensor::empty(dtype_of<T>::value, g.shape());
  if (g.dtype() == DType::Float32)
    kernels::cast<T>(g.data<float>(), out.mutable_data<T>(), g.size());
  else
    kernels::cast<T>(g.data<double>(), out.mutable_data<T>(), g.size());
  return out;
}

double squared_norm(const Tensor& g) {
  return dispatch_dtype(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = g.data<T>();
    double s = 0.0;
    for (std::int64_t i = 0; i < g.size(); ++i) s += static_cast<double>(p[i]) * p[i];
    return s;
  });
}

// Per-gradient multipliers from norm clipping (1 when off); value clipping is applied per element.
std::vector<double> clip_scales(const std::vector<Tensor>& grads, const Clip& clip) {
  std::vector<double> scale(grads.size(), 1.0);
  if (clip.norm > 0.0)
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const double n = std::sqrt(squared_norm(grads[i]));
      scale[i] = clip.norm / std::max(n, clip.norm);
    }
  if (clip.global_norm > 0.0) {
    double total = 0.0;
    for (std::size_t i = 0; i < grads.size(); ++i) total += squared_norm(grads[i]) * scale[i] * scale[i];
    const double n = std::sqrt(total);
    const double s = clip.global_norm / std::max(n, clip.global_norm);
    for (double& x : scale) x *= s;
  }
  return scale;
}

// The clipped gradient element: g*scale, clamped to [-value, value] when value clipping is on.
template <class T> struct Clipped {
  T scale;
  T value;  // 0 = off
  T operator()(T g) const {
    g *= scale;
    if (value > T(0)) g = std::min(std::max(g, -value), value);
    return g;
  }
};

Tensor& slot(std::unordered_map<std::uint64_t, Tensor>& slots, const VariableImpl& var) {
  Tensor& s = slots[var.id];
  if (!s.defined()) s = Tensor::zeros(var.value.dtype(), var.value.shape());
  return s;
}

}  // namespace

void check_pairs(const std::vector<Variable>& vars, const std::vector<Tensor>& grads, const char* who) {
  if (vars.size() != grads.size())
    throw ValueError(std::string(who) + ": got " + std::to_string(grads.size()) + " gradients for " +
                     std::to_string(vars.size()) + " variables");
  for (std::size_t i = 0; i < vars.size(); ++i) {
    if (!vars[i]) throw TypeError(std::string(who) + ": variable " + std::to_string(i) + " is None");
    if (!grads[i].defined())
      throw ValueError(std::string(who) + ": the gradient of variable '" + vars[i]->name + "' is None");
    if (grads[i].shape() != vars[i]->value.shape())
      throw ValueError(std::string(who) + ": the gradient of variable '" + vars[i]->name + "' has shape " +
                       shape_str(grads[i].shape()) + " but the variable has shape " +
                       shape_str(vars[i]->value.shape()));
  }
}

SGD::SGD(double momentum, bool nesterov) : momentum_(momentum), nesterov_(nesterov) {
  if (!(momentum >= 0.0)) throw ValueError("SGD: momentum must be >= 0, got " + std::to_string(momentum));
}

Tensor SGD::velocity(const VariableImpl& var) const {
  auto it = velocity_.find(var.id);
  return it == velocity_.end() ? Tensor() : it->second;
}

void SGD::apply(const std::vector<Variable>& vars, const std::vector<Tensor>& grads, double lr,
                const Clip& clip) {
  check_pairs(vars, grads, "SGD.apply_gradients");
  const std::vector<double> scales = clip_scales(grads, clip);
  for (std::size_t i = 0; i < vars.size(); ++i) {
    VariableImpl& var = *vars[i];
    dispatch_dtype(var.value.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const Tensor g_t = as_dtype<T>(grads[i]);
      const T* g = g_t.data<T>();
      const Clipped<T> clipped{static_cast<T>(scales[i]), static_cast<T>(clip.value)};
      const T lr_t = static_cast<T>(lr), m = static_cast<T>(momentum_);
      const std::int64_t n = g_t.size();
      if (momentum_ == 0.0) {
        var.update_in_place([&](const auto* w_old, auto* w) {
          for (std::int64_t j = 0; j < n; ++j) w[j] = w_old[j] - lr_t * clipped(g[j]);
        });
        return;
      }
      T* v = slot(velocity_, var).mutable_data<T>();  // private slot: written in place
      const bool nesterov = nesterov_;
      var.update_in_place([&](const auto* w_old, auto* w) {
        for (std::int64_t j = 0; j < n; ++j) {
          const T gj = clipped(g[j]);
          v[j] = m * v[j] - lr_t * gj;
          w[j] = nesterov ? w_old[j] + (m * v[j] - lr_t * gj) : w_old[j] + v[j];
        }
      });
    });
  }
}

Adam::Adam(double beta_1, double beta_2, double epsilon) : beta_1_(beta_1), beta_2_(beta_2), epsilon_(epsilon) {
  if (!(beta_1 >= 0.0 && beta_1 < 1.0) || !(beta_2 >= 0.0 && beta_2 < 1.0))
    throw ValueError("Adam: beta_1 and beta_2 must be in [0, 1), got " + std::to_string(beta_1) + " and " +
                     std::to_string(beta_2));
  if (!(epsilon >= 0.0)) throw ValueError("Adam: epsilon must be >= 0, got " + std::to_string(epsilon));
}

Tensor Adam::first_moment(const VariableImpl& var) const {
  auto it = moments_.find(var.id);
  return it == moments_.end() ? Tensor() : it->second.first;
}
Tensor Adam::second_moment(const VariableImpl& var) const {
  auto it = moments_.find(var.id);
  return it == moments_.end() ? Tensor() : it->second.second;
}

void Adam::apply(const std::vector<Variable>& vars, const std::vector<Tensor>& grads, double lr,
                 std::int64_t step, const Clip& clip) {
  check_pairs(vars, grads, "Adam.apply_gradients");
  if (step < 1) throw ValueError("Adam: step must be >= 1, got " + std::to_string(step));
  const std::vector<double> scales = clip_scales(grads, clip);
  const double t = static_cast<double>(step);
  const double alpha = lr * std::sqrt(1.0 - std::pow(beta_2_, t)) / (1.0 - std::pow(beta_1_, t));
  for (std::size_t i = 0; i < vars.size(); ++i) {
    VariableImpl& var = *vars[i];
    auto& moments = moments_[var.id];
    if (!moments.first.defined()) {
      moments.first = Tensor::zeros(var.value.dtype(), var.value.shape());
      moments.second = Tensor::zeros(var.value.dtype(), var.value.shape());
    }
    dispatch_dtype(var.value.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const Tensor g_t = as_dtype<T>(grads[i]);
      const T* g = g_t.data<T>();
      const Clipped<T> clipped{static_cast<T>(scales[i]), static_cast<T>(clip.value)};
      T* m = moments.first.template mutable_data<T>();
      T* v = moments.second.template mutable_data<T>();
      const T a = static_cast<T>(alpha), eps = static_cast<T>(epsilon_);
      const T one_minus_b1 = static_cast<T>(1.0 - beta_1_), one_minus_b2 = static_cast<T>(1.0 - beta_2_);
      const std::int64_t n = g_t.size();
      var.update_in_place([&](const auto* w_old, auto* w) {
        for (std::int64_t j = 0; j < n; ++j) {
          const T gj = clipped(g[j]);
          m[j] += (gj - m[j]) * one_minus_b1;
          v[j] += (gj * gj - v[j]) * one_minus_b2;
          w[j] = w_old[j] - a * m[j] / (std::sqrt(v[j]) + eps);
        }
      });
    });
  }
}

}  // namespace tg::optim
