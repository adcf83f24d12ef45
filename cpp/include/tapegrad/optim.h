// Optimizers with Keras's update rules: one call updates every parameter of a model, in place
// through the variables' copy-on-write rule (Note [Saved values never change]). An optimizer owns
// all of its state (step counter, learning rate or schedule, clipping, per-variable slots keyed by
// the variable's id), so an update can run from C++ alone: Python's eager apply_gradients and a
// compiled replay of a training step call the same Optimizer::apply.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
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

// A learning rate as a function of the step counter (updates applied so far): a constant or one
// of the built-in schedules, computed exactly as python/tapegrad/schedules.py computes them.
class LearningRate {
 public:
  enum class Kind { Constant, ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay };

  LearningRate() = default;  // constant 0.01, SGD's default
  static LearningRate constant(double value);
  // initial * decay_rate^(step / decay_steps), the exponent floored with staircase.
  static LearningRate exponential_decay(double initial, std::int64_t decay_steps, double decay_rate,
                                        bool staircase);
  // initial / (1 + decay_rate * step / decay_steps), the quotient floored with staircase.
  static LearningRate inverse_time_decay(double initial, std::int64_t decay_steps,
                                         double decay_rate, bool staircase);
  // values[i] while boundaries[i-1] < step <= boundaries[i]; values has one more element.
  static LearningRate piecewise_constant_decay(std::vector<double> boundaries,
                                               std::vector<double> values);

  double at(std::int64_t step) const;
  Kind kind() const { return kind_; }
  std::string repr() const;

 private:
  Kind kind_ = Kind::Constant;
  double initial_ = 0.01;  // the constant, or the decays' initial rate
  std::int64_t decay_steps_ = 1;
  double decay_rate_ = 1.0;
  bool staircase_ = false;
  std::vector<double> boundaries_, values_;
};

// Checks every (gradient, variable) pair (shapes equal) before anything is written, so a bad
// pair raises a ValueError and leaves every variable as it was.
void check_pairs(const std::vector<Variable>& vars, const std::vector<Tensor>& grads,
                 const char* who);

// Per-variable optimizer state (a slot such as a velocity), created on a variable's first update.
class Slots {
 public:
  // The variable's slot, created filled with `initial` in the variable's dtype and shape.
  Tensor& get(const VariableImpl& var, double initial = 0.0);
  // The slot, or an undefined tensor before the variable's first update.
  Tensor find(const VariableImpl& var) const;
  // Replaces the variable's slot with a private copy of value (restoring a saved state); value
  // must have the variable's shape and dtype (ValueError naming both otherwise).
  void set(const VariableImpl& var, const Tensor& value);

 private:
  std::unordered_map<std::uint64_t, Tensor> by_id_;
};

class Optimizer : public std::enable_shared_from_this<Optimizer> {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  Clip clip;
  LearningRate learning_rate;
  std::int64_t iterations = 0;  // updates applied; schedules and Adam's bias correction read it

  // One update of every variable: checks all pairs (nothing changes on a bad one), then with
  // lr = learning_rate.at(iterations) and step = iterations + 1 updates each variable with its
  // clipped gradient in the variable's dtype, then counts the update.
  void apply(const std::vector<Variable>& vars, const std::vector<Tensor>& grads);
  // The same update, never recorded on a trace: for an effect that applies it itself.
  void apply_untraced(const std::vector<Variable>& vars, const std::vector<Tensor>& grads);
  // This optimizer as the shared_ptr a traced effect holds (ValueError if it has none).
  std::shared_ptr<Optimizer> shared_self();
  double current_learning_rate() const { return learning_rate.at(iterations); }
  const std::string& name() const { return name_; }
  // The per-variable state by Keras's slot names (empty for plain SGD's absent slots too: a
  // table exists whether or not it holds anything yet), for saving and restoring an optimizer.
  virtual std::vector<std::pair<std::string, Slots*>> slot_tables() { return {}; }

 protected:
  explicit Optimizer(std::string name) : name_(std::move(name)) {}
  // The rule for one variable; grad has the variable's dtype and shape and is already clipped.
  virtual void update(VariableImpl& var, const Tensor& grad, double lr, std::int64_t step) = 0;

 private:
  std::string name_;
};

class SGD : public Optimizer {
 public:
  SGD(double momentum, bool nesterov);
  Tensor velocity(const VariableImpl& var) const { return velocity_.find(var); }
  std::vector<std::pair<std::string, Slots*>> slot_tables() override {
    return {{"velocity", &velocity_}};
  }

 protected:
  void update(VariableImpl& var, const Tensor& grad, double lr, std::int64_t step) override;

 private:
  double momentum_;
  bool nesterov_;
  Slots velocity_;
};

class Adam : public Optimizer {
 public:
  Adam(double beta_1, double beta_2, double epsilon);
  Tensor first_moment(const VariableImpl& var) const { return m_.find(var); }
  Tensor second_moment(const VariableImpl& var) const { return v_.find(var); }
  std::vector<std::pair<std::string, Slots*>> slot_tables() override {
    return {{"m", &m_}, {"v", &v_}};
  }

 protected:
  Adam(std::string name, double beta_1, double beta_2, double epsilon, double weight_decay);
  void update(VariableImpl& var, const Tensor& grad, double lr, std::int64_t step) override;

 private:
  double beta_1_, beta_2_, epsilon_;
  double weight_decay_;  // 0 for Adam; AdamW's decoupled decay
  Slots m_, v_;
};

// Adam with Keras's decoupled weight decay, applied to the weight before the Adam step.
class AdamW : public Adam {
 public:
  AdamW(double weight_decay, double beta_1, double beta_2, double epsilon);
};

class RMSprop : public Optimizer {
 public:
  RMSprop(double rho, double momentum, double epsilon, bool centered);
  Tensor velocity(const VariableImpl& var) const { return velocity_.find(var); }
  Tensor momentum(const VariableImpl& var) const { return momentum_slot_.find(var); }
  Tensor average_gradient(const VariableImpl& var) const { return average_gradient_.find(var); }
  std::vector<std::pair<std::string, Slots*>> slot_tables() override {
    return {{"velocity", &velocity_},
            {"momentum", &momentum_slot_},
            {"average_gradient", &average_gradient_}};
  }

 protected:
  void update(VariableImpl& var, const Tensor& grad, double lr, std::int64_t step) override;

 private:
  double rho_, momentum_, epsilon_;
  bool centered_;
  Slots velocity_, momentum_slot_, average_gradient_;
};

class Adagrad : public Optimizer {
 public:
  Adagrad(double initial_accumulator_value, double epsilon);
  Tensor accumulator(const VariableImpl& var) const { return accumulator_.find(var); }
  std::vector<std::pair<std::string, Slots*>> slot_tables() override {
    return {{"accumulator", &accumulator_}};
  }

 protected:
  void update(VariableImpl& var, const Tensor& grad, double lr, std::int64_t step) override;

 private:
  double initial_accumulator_value_, epsilon_;
  Slots accumulator_;
};

}  // namespace tg::optim
