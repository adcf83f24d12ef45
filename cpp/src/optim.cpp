#include "tapegrad/optim.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>

#include "tapegrad/autograd/trace.h"
#include "tapegrad/errors.h"
#include "tapegrad/kernels.h"

namespace tg::optim {

namespace {

// An optimizer's update as a side effect of a compiled program (autograd/program.h): the same
// apply, with the gradients the replay computed, at every replay.
class OptimizerStep final : public Effect {
 public:
  OptimizerStep(std::shared_ptr<Optimizer> optimizer, std::vector<Variable> vars)
      : optimizer_(std::move(optimizer)),
        vars_(std::move(vars)),
        name_(optimizer_->name() + ".apply") {}
  const char* name() const override { return name_.c_str(); }
  void run(const std::vector<Tensor>& grads) override { optimizer_->apply(vars_, grads); }

 private:
  std::shared_ptr<Optimizer> optimizer_;
  std::vector<Variable> vars_;
  std::string name_;
};

// The gradient in the variable's dtype (a cast copy only when they differ).
template <class T>
Tensor as_dtype(const Tensor& g) {
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
    for (std::size_t i = 0; i < grads.size(); ++i)
      total += squared_norm(grads[i]) * scale[i] * scale[i];
    const double n = std::sqrt(total);
    const double s = clip.global_norm / std::max(n, clip.global_norm);
    for (double& x : scale) x *= s;
  }
  return scale;
}

// The gradient in dtype T, clipped: g*scale, then clamped to [-value, value] when value clipping
// is on. Without clipping this is g itself (or its cast), so the common case copies nothing.
template <class T>
Tensor clipped_as(const Tensor& grad, double scale, double value) {
  const T scale_t = static_cast<T>(scale), value_t = static_cast<T>(value);
  Tensor g = as_dtype<T>(grad);
  if (scale_t == T(1) && !(value_t > T(0))) return g;
  if (g.raw() == grad.raw()) g = grad.clone();  // never write the caller's gradient
  T* p = g.mutable_data<T>();
  for (std::int64_t j = 0; j < g.size(); ++j) {
    T x = p[j] * scale_t;
    if (value_t > T(0)) x = std::min(std::max(x, -value_t), value_t);
    p[j] = x;
  }
  return g;
}

void check_rate(double value, const char* what) {
  if (!(value >= 0.0))
    throw ValueError(std::string(what) + " must be >= 0, got " + std::to_string(value));
}

}  // namespace

// -- learning rates ------------------------------------------------------------------------------

LearningRate LearningRate::constant(double value) {
  check_rate(value, "learning_rate");
  LearningRate r;
  r.initial_ = value;
  return r;
}

LearningRate LearningRate::exponential_decay(double initial, std::int64_t decay_steps,
                                             double decay_rate, bool staircase) {
  if (decay_steps <= 0)
    throw ValueError("decay_steps must be > 0, got " + std::to_string(decay_steps));
  LearningRate r;
  r.kind_ = Kind::ExponentialDecay;
  r.initial_ = initial;
  r.decay_steps_ = decay_steps;
  r.decay_rate_ = decay_rate;
  r.staircase_ = staircase;
  return r;
}

LearningRate LearningRate::inverse_time_decay(double initial, std::int64_t decay_steps,
                                              double decay_rate, bool staircase) {
  LearningRate r = exponential_decay(initial, decay_steps, decay_rate, staircase);
  r.kind_ = Kind::InverseTimeDecay;
  return r;
}

LearningRate LearningRate::piecewise_constant_decay(std::vector<double> boundaries,
                                                    std::vector<double> values) {
  if (values.size() != boundaries.size() + 1)
    throw ValueError("values must have one more element than boundaries: got " +
                     std::to_string(values.size()) + " values for " +
                     std::to_string(boundaries.size()) + " boundaries");
  if (!std::is_sorted(boundaries.begin(), boundaries.end()))
    throw ValueError("boundaries must be increasing");
  LearningRate r;
  r.kind_ = Kind::PiecewiseConstantDecay;
  r.boundaries_ = std::move(boundaries);
  r.values_ = std::move(values);
  return r;
}

double LearningRate::at(std::int64_t step) const {
  // The operations and their order are schedules.py's, so both give the same double.
  const double progress = static_cast<double>(step) / static_cast<double>(decay_steps_);
  const double exponent = staircase_ ? std::floor(progress) : progress;
  switch (kind_) {
    case Kind::Constant: return initial_;
    case Kind::ExponentialDecay: return initial_ * std::pow(decay_rate_, exponent);
    case Kind::InverseTimeDecay: return initial_ / (1.0 + decay_rate_ * exponent);
    case Kind::PiecewiseConstantDecay:
      for (std::size_t i = 0; i < boundaries_.size(); ++i)
        if (static_cast<double>(step) <= boundaries_[i]) return values_[i];
      return values_.back();
  }
  return initial_;
}

std::string LearningRate::repr() const {
  std::ostringstream s;
  s.precision(17);
  switch (kind_) {
    case Kind::Constant: s << "LearningRate.constant(" << initial_ << ")"; break;
    case Kind::ExponentialDecay:
    case Kind::InverseTimeDecay:
      s << "LearningRate."
        << (kind_ == Kind::ExponentialDecay ? "exponential_decay(" : "inverse_time_decay(")
        << initial_ << ", " << decay_steps_ << ", " << decay_rate_ << ", "
        << (staircase_ ? "True" : "False") << ")";
      break;
    case Kind::PiecewiseConstantDecay:
      s << "LearningRate.piecewise_constant_decay(" << boundaries_.size() << " boundaries)";
      break;
  }
  return s.str();
}

// -- the shared update ---------------------------------------------------------------------------

void check_pairs(const std::vector<Variable>& vars, const std::vector<Tensor>& grads,
                 const char* who) {
  if (vars.size() != grads.size())
    throw ValueError(std::string(who) + ": got " + std::to_string(grads.size()) +
                     " gradients for " + std::to_string(vars.size()) + " variables");
  for (std::size_t i = 0; i < vars.size(); ++i) {
    if (!vars[i])
      throw TypeError(std::string(who) + ": variable " + std::to_string(i) + " is None");
    if (!grads[i].defined())
      throw ValueError(std::string(who) + ": the gradient of variable '" + vars[i]->name +
                       "' is None");
    if (grads[i].shape() != vars[i]->value.shape())
      throw ValueError(std::string(who) + ": the gradient of variable '" + vars[i]->name +
                       "' has shape " + shape_str(grads[i].shape()) +
                       " but the variable has shape " + shape_str(vars[i]->value.shape()));
  }
}

Tensor& Slots::get(const VariableImpl& var, double initial) {
  Tensor& s = by_id_[var.id];
  if (!s.defined()) s = Tensor::full(var.value.dtype(), var.value.shape(), initial);
  return s;
}

Tensor Slots::find(const VariableImpl& var) const {
  auto it = by_id_.find(var.id);
  return it == by_id_.end() ? Tensor() : it->second;
}

void Slots::set(const VariableImpl& var, const Tensor& value) {
  if (value.dtype() != var.value.dtype() || value.shape() != var.value.shape())
    throw ValueError("optimizer slot for variable '" + var.name + "': got " +
                     dtype_name(value.dtype()) + " of shape " + shape_str(value.shape()) +
                     " but the variable is " + dtype_name(var.value.dtype()) + " of shape " +
                     shape_str(var.value.shape()));
  by_id_[var.id] = value.clone();  // updates write slots in place: never share a caller's buffer
}

void Optimizer::apply(const std::vector<Variable>& vars, const std::vector<Tensor>& grads) {
  apply_untraced(vars, grads);
  if (Trace* trace = active_trace())
    trace->on_effect(std::make_shared<OptimizerStep>(shared_self(), vars), grads);
}

std::shared_ptr<Optimizer> Optimizer::shared_self() {
  std::shared_ptr<Optimizer> self = weak_from_this().lock();
  if (!self)
    throw ValueError(name_ + ": an optimizer traced by tg.function must be owned by a shared_ptr");
  return self;
}

void Optimizer::apply_untraced(const std::vector<Variable>& vars,
                               const std::vector<Tensor>& grads) {
  check_pairs(vars, grads, (name_ + ".apply_gradients").c_str());
  if (iterations < 0)
    throw ValueError(name_ + ": iterations must be >= 0, got " + std::to_string(iterations));
  const double lr = learning_rate.at(iterations);
  const std::int64_t step = iterations + 1;
  const std::vector<double> scales = clip_scales(grads, clip);
  for (std::size_t i = 0; i < vars.size(); ++i) {
    VariableImpl& var = *vars[i];
    const Tensor grad = dispatch_dtype(var.value.dtype(), [&](auto tag) {
      return clipped_as<decltype(tag)>(grads[i], scales[i], clip.value);
    });
    update(var, grad, lr, step);
  }
  ++iterations;
}

// -- the optimizers: one block each --------------------------------------------------------------

SGD::SGD(double momentum, bool nesterov)
    : Optimizer("SGD"), momentum_(momentum), nesterov_(nesterov) {
  if (!(momentum >= 0.0))
    throw ValueError("SGD: momentum must be >= 0, got " + std::to_string(momentum));
}

void SGD::update(VariableImpl& var, const Tensor& grad, double lr, std::int64_t) {
  // w -= lr*g; with momentum m: v = m*v - lr*g, then w += v (nesterov: w += m*v - lr*g).
  dispatch_dtype(var.value.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* g = grad.data<T>();
    const T lr_t = static_cast<T>(lr), m = static_cast<T>(momentum_);
    const std::int64_t n = grad.size();
    if (momentum_ == 0.0) {
      var.update_in_place([&](const auto* w_old, auto* w) {
        for (std::int64_t j = 0; j < n; ++j) w[j] = w_old[j] - lr_t * g[j];
      });
      return;
    }
    T* v = velocity_.get(var).mutable_data<T>();  // private slot: written in place
    const bool nesterov = nesterov_;
    var.update_in_place([&](const auto* w_old, auto* w) {
      for (std::int64_t j = 0; j < n; ++j) {
        v[j] = m * v[j] - lr_t * g[j];
        w[j] = nesterov ? w_old[j] + (m * v[j] - lr_t * g[j]) : w_old[j] + v[j];
      }
    });
  });
}

Adam::Adam(double beta_1, double beta_2, double epsilon)
    : Adam("Adam", beta_1, beta_2, epsilon, 0.0) {}

Adam::Adam(std::string name, double beta_1, double beta_2, double epsilon, double weight_decay)
    : Optimizer(std::move(name)),
      beta_1_(beta_1),
      beta_2_(beta_2),
      epsilon_(epsilon),
      weight_decay_(weight_decay) {
  if (!(beta_1 >= 0.0 && beta_1 < 1.0) || !(beta_2 >= 0.0 && beta_2 < 1.0))
    throw ValueError(this->name() + ": beta_1 and beta_2 must be in [0, 1), got " +
                     std::to_string(beta_1) + " and " + std::to_string(beta_2));
  if (!(epsilon >= 0.0))
    throw ValueError(this->name() + ": epsilon must be >= 0, got " + std::to_string(epsilon));
  if (!(weight_decay >= 0.0))
    throw ValueError(this->name() + ": weight_decay must be >= 0, got " +
                     std::to_string(weight_decay));
}

void Adam::update(VariableImpl& var, const Tensor& grad, double lr, std::int64_t step) {
  // a = lr*sqrt(1-b2^t)/(1-b1^t); m += (g-m)(1-b1); v += (g^2-v)(1-b2); w -= a*m/(sqrt(v)+eps)
  // (Keras's "epsilon hat" placement); AdamW first decays w -= w*weight_decay*lr.
  const double t = static_cast<double>(step);
  const double alpha = lr * std::sqrt(1.0 - std::pow(beta_2_, t)) / (1.0 - std::pow(beta_1_, t));
  Tensor& m_slot = m_.get(var);
  Tensor& v_slot = v_.get(var);
  dispatch_dtype(var.value.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* g = grad.data<T>();
    T* m = m_slot.template mutable_data<T>();
    T* v = v_slot.template mutable_data<T>();
    const T a = static_cast<T>(alpha), eps = static_cast<T>(epsilon_);
    const T one_minus_b1 = static_cast<T>(1.0 - beta_1_),
            one_minus_b2 = static_cast<T>(1.0 - beta_2_);
    const T wd = static_cast<T>(weight_decay_), lr_t = static_cast<T>(lr);
    const std::int64_t n = grad.size();
    var.update_in_place([&](const auto* w_old, auto* w) {
      // instantiated for both float types; only the variable's own runs
      if constexpr (std::is_same_v<std::remove_pointer_t<decltype(w)>, T>)
        kernels::adam_update<T>(g, m, v, w_old, w, n, one_minus_b1, one_minus_b2, a, eps, wd, lr_t);
    });
  });
}

AdamW::AdamW(double weight_decay, double beta_1, double beta_2, double epsilon)
    : Adam("AdamW", beta_1, beta_2, epsilon, weight_decay) {}

RMSprop::RMSprop(double rho, double momentum, double epsilon, bool centered)
    : Optimizer("RMSprop"), rho_(rho), momentum_(momentum), epsilon_(epsilon), centered_(centered) {
  if (!(rho >= 0.0 && rho <= 1.0))
    throw ValueError("RMSprop: rho must be in [0, 1], got " + std::to_string(rho));
  if (!(momentum >= 0.0))
    throw ValueError("RMSprop: momentum must be >= 0, got " + std::to_string(momentum));
  if (!(epsilon >= 0.0))
    throw ValueError("RMSprop: epsilon must be >= 0, got " + std::to_string(epsilon));
}

void RMSprop::update(VariableImpl& var, const Tensor& grad, double lr, std::int64_t) {
  // v = rho*v + (1-rho)*g^2; centered: a = rho*a + (1-rho)*g, d = v - a^2 + eps, else d = v + eps;
  // u = lr*g/sqrt(d); w -= u, or with momentum mu: p = mu*p + u, w -= p.
  Tensor& v_slot = velocity_.get(var);
  Tensor* p_slot = momentum_ > 0.0 ? &momentum_slot_.get(var) : nullptr;
  Tensor* a_slot = centered_ ? &average_gradient_.get(var) : nullptr;
  dispatch_dtype(var.value.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* g = grad.data<T>();
    T* v = v_slot.template mutable_data<T>();
    T* p = p_slot ? p_slot->template mutable_data<T>() : nullptr;
    T* a = a_slot ? a_slot->template mutable_data<T>() : nullptr;
    const T rho = static_cast<T>(rho_), one_minus_rho = static_cast<T>(1.0 - rho_);
    const T mu = static_cast<T>(momentum_), eps = static_cast<T>(epsilon_),
            lr_t = static_cast<T>(lr);
    const std::int64_t n = grad.size();
    var.update_in_place([&](const auto* w_old, auto* w) {
      for (std::int64_t j = 0; j < n; ++j) {
        v[j] = rho * v[j] + one_minus_rho * (g[j] * g[j]);
        T denominator = v[j] + eps;
        if (a) {
          a[j] = rho * a[j] + one_minus_rho * g[j];
          denominator = v[j] - a[j] * a[j] + eps;
        }
        const T increment = lr_t * g[j] / std::sqrt(denominator);
        if (p) {
          p[j] = mu * p[j] + increment;
          w[j] = w_old[j] - p[j];
        } else {
          w[j] = w_old[j] - increment;
        }
      }
    });
  });
}

Adagrad::Adagrad(double initial_accumulator_value, double epsilon)
    : Optimizer("Adagrad"),
      initial_accumulator_value_(initial_accumulator_value),
      epsilon_(epsilon) {
  if (!(initial_accumulator_value >= 0.0))
    throw ValueError("Adagrad: initial_accumulator_value must be >= 0, got " +
                     std::to_string(initial_accumulator_value));
  if (!(epsilon >= 0.0))
    throw ValueError("Adagrad: epsilon must be >= 0, got " + std::to_string(epsilon));
}

void Adagrad::update(VariableImpl& var, const Tensor& grad, double lr, std::int64_t) {
  // acc += g^2 (acc starts at initial_accumulator_value); w -= lr*g/sqrt(acc + eps).
  Tensor& acc_slot = accumulator_.get(var, initial_accumulator_value_);
  dispatch_dtype(var.value.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* g = grad.data<T>();
    T* acc = acc_slot.template mutable_data<T>();
    const T eps = static_cast<T>(epsilon_), lr_t = static_cast<T>(lr);
    const std::int64_t n = grad.size();
    var.update_in_place([&](const auto* w_old, auto* w) {
      for (std::int64_t j = 0; j < n; ++j) {
        acc[j] += g[j] * g[j];
        w[j] = w_old[j] - lr_t * g[j] / std::sqrt(acc[j] + eps);
      }
    });
  });
}

}  // namespace tg::optim
