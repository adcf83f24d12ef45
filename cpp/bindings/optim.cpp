// The `_core.optim` submodule: optimizers that own their whole state (step counter, learning rate
// or schedule, clipping, slots), so one `apply` call updates every parameter from C++ alone.
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>

#include "convert.h"
#include "tapegrad/autograd/program.h"
#include "tapegrad/errors.h"
#include "tapegrad/optim.h"

namespace tg::py_bind {

namespace {

// Variables and their gradients from two Python sequences; *work counts the gradients' elements.
std::pair<std::vector<Variable>, std::vector<Tensor>> to_pairs(py::sequence grads,
                                                               py::sequence vars,
                                                               std::int64_t* work) {
  if (py::len(grads) != py::len(vars))
    throw ValueError("apply: got " + std::to_string(py::len(grads)) + " gradients for " +
                     std::to_string(py::len(vars)) + " variables");
  std::vector<Variable> vs;
  std::vector<Tensor> gs;
  vs.reserve(py::len(vars));
  gs.reserve(py::len(vars));
  *work = 0;
  for (std::size_t i = 0; i < py::len(vars); ++i) {
    py::handle v = vars[i];
    if (!is_variable(v))
      throw TypeError("apply: expected a Variable, got " +
                      std::string(py::str(py::type::of(v).attr("__name__"))));
    Variable var = v.cast<Variable>();
    gs.push_back(to_tensor_no_watch(grads[i]));
    *work += gs.back().size();
    vs.push_back(std::move(var));
  }
  return {std::move(vs), std::move(gs)};
}

template <class F>
void without_gil_if_big(std::int64_t work, F&& f) {
  if (work < kReleaseGilWork) return f();
  py::gil_scoped_release release;
  f();
}

py::object slot_or_none(const Tensor& t) {
  return t.defined() ? py::object(to_numpy(t.clone())) : py::none();
}

// A clip field: 0 (or None) is off, anything else must be > 0.
double to_clip_field(py::handle value, const char* name) {
  if (value.is_none()) return 0.0;
  const double c = value.cast<double>();
  if (!(c >= 0.0)) throw ValueError(std::string(name) + " must be > 0, got " + std::to_string(c));
  return c;
}

optim::Slots& slot_table(optim::Optimizer& self, const std::string& name) {
  std::string known;
  for (auto& [slot_name, table] : self.slot_tables()) {
    if (slot_name == name) return *table;
    known += (known.empty() ? "" : ", ") + slot_name;
  }
  throw ValueError(self.name() + " has no slot '" + name +
                   "' (its slots: " + (known.empty() ? "none" : known) + ")");
}

// Note [A data-parallel update]
// One training step of python/tapegrad/distribute.py on one rank, eager or replayed: the
// gradients scaled by this rank's share of the global batch (local_rows / global_rows) and the
// rank's loss sum go into one fused buffer of the variables' dtype, followed by one element the
// caller may use (the Trainer's Ctrl-C flag). `reduce` (Python: an MPI allreduce in place) sums
// that buffer over the ranks. A non-finite global loss stops the step here (NonFiniteError, on
// every rank alike) before any update; otherwise every rank applies the same summed gradients.
// A variable without a gradient on this rank (None: not connected to the loss) sends zeros and a
// 0 in its entry of a row of flags (1 where the rank has a gradient) placed before the loss sum:
// the buffer has the same length on every rank whatever their None gradients are, and a variable
// whose flags sum to 0 (no rank has a gradient) is left out of the update, as apply_gradients
// leaves out a None gradient in one process.
// The hook lives in the bindings because `reduce` is Python: the core stays free of it.
class ReducedUpdate final : public Effect {
 public:
  ReducedUpdate(std::shared_ptr<optim::Optimizer> optimizer, std::vector<Variable> vars,
                std::vector<bool> has_gradient, py::object reduce, std::int64_t local_rows,
                std::int64_t global_rows)
      : optimizer_(std::move(optimizer)),
        vars_(std::move(vars)),
        has_gradient_(std::move(has_gradient)),
        reduce_(std::move(reduce)),
        local_rows_(local_rows),
        global_rows_(global_rows),
        name_(optimizer_->name() + ".apply_allreduced") {}

  // A replayed program may be dropped without the GIL held; after the interpreter has gone the
  // callable is leaked rather than released.
  ~ReducedUpdate() override {
    if (!Py_IsInitialized()) {
      reduce_.release();
      return;
    }
    py::gil_scoped_acquire gil;
    reduce_ = py::object();
  }

  const char* name() const override { return name_.c_str(); }

  // inputs: the gradients in the variables' order (zeros where has_gradient_ is false), then
  // this rank's mean loss.
  void run(const std::vector<Tensor>& inputs) override {
    const std::size_t n = vars_.size();
    const DType dtype = vars_[0]->value.dtype();
    std::int64_t total = static_cast<std::int64_t>(n) + 2;  // the flags, the loss, Ctrl-C
    for (const Variable& v : vars_) total += v->value.size();
    if (!fused_.defined() || fused_.size() != total) fused_ = Tensor::empty(dtype, {total});
    const double weight = static_cast<double>(local_rows_) / static_cast<double>(global_rows_);
    dispatch_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      T* out = fused_.mutable_data<T>();
      for (std::size_t i = 0; i < n; ++i) {
        const Tensor& g = inputs[i];
        const T* in = g.data<T>();
        for (std::int64_t k = 0; k < g.size(); ++k) out[k] = static_cast<T>(in[k] * weight);
        out += g.size();
      }
      for (std::size_t i = 0; i < n; ++i) out[i] = has_gradient_[i] ? T(1) : T(0);
      out += n;
      out[0] =
          static_cast<T>(local_rows_ ? inputs[n].item() * static_cast<double>(local_rows_) : 0.0);
      out[1] = T(0);
    });
    {
      py::gil_scoped_acquire gil;
      // a writable view of the buffer (the allreduce writes the sums in place); the capsule
      // keeps the storage alive for as long as Python holds the view
      py::capsule owner(new Tensor(fused_), [](void* p) { delete static_cast<Tensor*>(p); });
      py::array view(py::dtype(dtype == DType::Float32 ? "float32" : "float64"), {total}, {},
                     fused_.mutable_data<void>(), owner);
      reduce_(view);
    }
    std::vector<Variable> updated;
    std::vector<Tensor> grads;
    double loss_sum = 0.0;
    dispatch_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* in = fused_.data<T>();
      const T* flags = in + (total - 2 - static_cast<std::int64_t>(n));
      for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t size = vars_[i]->value.size();
        if (flags[i] > T(0)) {
          Tensor g = Tensor::empty(dtype, vars_[i]->value.shape());
          std::copy(in, in + size, g.mutable_data<T>());
          updated.push_back(vars_[i]);
          grads.push_back(std::move(g));
        }
        in += size;
      }
      loss_sum = static_cast<double>(flags[n]);
    });
    const double loss = loss_sum / static_cast<double>(global_rows_);
    if (!std::isfinite(loss)) throw NonFiniteError("loss became " + std::to_string(loss), loss);
    if (updated.empty()) throw ValueError("No gradients provided for any variable.");
    optimizer_->apply_untraced(updated, grads);
  }

 private:
  std::shared_ptr<optim::Optimizer> optimizer_;
  std::vector<Variable> vars_;
  std::vector<bool> has_gradient_;  // on this rank: false where the gradient was None
  py::object reduce_;
  std::int64_t local_rows_, global_rows_;
  std::string name_;
  Tensor fused_;  // reused by every replay of the step
};

void apply_allreduced(optim::Optimizer& self, py::sequence grads, py::sequence vars,
                      py::handle loss, std::int64_t local_rows, std::int64_t global_rows,
                      py::object reduce) {
  // None gradients become zeros here and a 0 flag (Note [A data-parallel update]).
  if (py::len(grads) != py::len(vars))
    throw ValueError("apply_allreduced: got " + std::to_string(py::len(grads)) + " gradients for " +
                     std::to_string(py::len(vars)) + " variables");
  std::vector<bool> has_gradient(py::len(vars));
  py::list dense(py::len(vars));
  for (std::size_t i = 0; i < py::len(vars); ++i) {
    py::handle g = grads[i], v = vars[i];
    has_gradient[i] = !g.is_none();
    if (has_gradient[i] || !is_variable(v)) {
      dense[i] = g;
    } else {
      const Variable var = v.cast<Variable>();
      dense[i] = wrap(Tensor::zeros(var->value.dtype(), var->value.shape()));
    }
  }
  std::int64_t work = 0;
  auto [vs, gs] = to_pairs(dense, vars, &work);
  if (vs.empty()) throw ValueError("apply_allreduced: no variables");
  if (!(0 <= local_rows && local_rows <= global_rows && global_rows > 0))
    throw ValueError(
        "apply_allreduced: need 0 <= local_rows <= global_rows and global_rows > 0, got " +
        std::to_string(local_rows) + " and " + std::to_string(global_rows));
  const DType dtype = vs[0]->value.dtype();
  for (std::size_t i = 0; i < vs.size(); ++i)
    if (vs[i]->value.dtype() != dtype || gs[i].dtype() != dtype)
      throw TypeError("apply_allreduced: one fused buffer needs one dtype; variable '" +
                      vs[i]->name + "' is " + dtype_name(vs[i]->value.dtype()) + " with a " +
                      dtype_name(gs[i].dtype()) + " gradient, variable '" + vs[0]->name + "' is " +
                      dtype_name(dtype));
  optim::check_pairs(vs, gs, "apply_allreduced");
  Tensor loss_t = to_tensor_no_watch(loss);
  if (loss_t.size() != 1)
    throw ValueError("apply_allreduced: the loss must be a scalar, got shape " +
                     shape_str(loss_t.shape()));
  auto effect = std::make_shared<ReducedUpdate>(self.shared_self(), vs, std::move(has_gradient),
                                                std::move(reduce), local_rows, global_rows);
  std::vector<Tensor> inputs = gs;
  inputs.push_back(loss_t);
  effect->run(inputs);
  if (Trace* trace = active_trace()) trace->on_effect(effect, inputs);
}

}  // namespace

void bind_optim(py::module_& parent) {
  py::module_ m =
      parent.def_submodule("optim", "Optimizers with Keras's update rules, state owned by C++.");
  using optim::LearningRate;
  py::class_<LearningRate>(
      m, "LearningRate",
      "A learning rate from the step counter: a constant or a built-in schedule.")
      .def_static("constant", &LearningRate::constant, py::arg("value"))
      .def_static("exponential_decay", &LearningRate::exponential_decay,
                  py::arg("initial_learning_rate"), py::arg("decay_steps"), py::arg("decay_rate"),
                  py::arg("staircase") = false)
      .def_static("inverse_time_decay", &LearningRate::inverse_time_decay,
                  py::arg("initial_learning_rate"), py::arg("decay_steps"), py::arg("decay_rate"),
                  py::arg("staircase") = false)
      .def_static("piecewise_constant_decay", &LearningRate::piecewise_constant_decay,
                  py::arg("boundaries"), py::arg("values"))
      .def("__call__", &LearningRate::at, py::arg("step"),
           "The rate at `step` (updates applied so far).")
      .def_property_readonly(
          "is_constant",
          [](const LearningRate& r) { return r.kind() == LearningRate::Kind::Constant; })
      .def("__repr__", &LearningRate::repr);

  py::class_<optim::Optimizer, std::shared_ptr<optim::Optimizer>>(m, "Optimizer")
      .def(
          "apply",
          [](optim::Optimizer& self, py::sequence grads, py::sequence vars) {
            std::int64_t work = 0;
            auto [vs, gs] = to_pairs(grads, vars, &work);
            without_gil_if_big(work, [&] { self.apply(vs, gs); });
            return self.iterations;
          },
          py::arg("grads"), py::arg("vars"),
          "Updates every variable in place with its gradient (one call) and counts the update; "
          "returns the new iterations.")
      .def_readwrite("iterations", &optim::Optimizer::iterations)
      .def_property(
          "learning_rate", [](const optim::Optimizer& self) { return self.learning_rate; },
          [](optim::Optimizer& self, py::handle value) {
            self.learning_rate = py::isinstance<LearningRate>(value)
                                     ? value.cast<LearningRate>()
                                     : LearningRate::constant(value.cast<double>());
          },
          "A LearningRate; a float sets a constant rate.")
      .def("current_learning_rate", &optim::Optimizer::current_learning_rate,
           "The rate the next apply uses: learning_rate(iterations).")
      .def_property(
          "clipnorm", [](const optim::Optimizer& self) { return self.clip.norm; },
          [](optim::Optimizer& self, py::handle v) {
            self.clip.norm = to_clip_field(v, "clipnorm");
          })
      .def_property(
          "global_clipnorm", [](const optim::Optimizer& self) { return self.clip.global_norm; },
          [](optim::Optimizer& self, py::handle v) {
            self.clip.global_norm = to_clip_field(v, "global_clipnorm");
          })
      .def_property(
          "clipvalue", [](const optim::Optimizer& self) { return self.clip.value; },
          [](optim::Optimizer& self, py::handle v) {
            self.clip.value = to_clip_field(v, "clipvalue");
          })
      .def_property_readonly("name", &optim::Optimizer::name)
      .def("apply_allreduced", &apply_allreduced, py::arg("grads"), py::arg("vars"),
           py::arg("loss"), py::arg("local_rows"), py::arg("global_rows"), py::arg("reduce"),
           "A data-parallel update (see Note [A data-parallel update] in cpp/bindings/optim.cpp); "
           "recorded on an active trace as one effect.")
      .def_property_readonly(
          "slot_names",
          [](optim::Optimizer& self) {
            std::vector<std::string> names;
            for (auto& [name, table] : self.slot_tables()) names.push_back(name);
            return names;
          },
          "The names of the per-variable slots this optimizer keeps (Keras's names).")
      .def(
          "get_slot",
          [](optim::Optimizer& self, const std::string& name, const Variable& v) {
            return slot_or_none(slot_table(self, name).find(*v));
          },
          py::arg("name"), py::arg("var"),
          "The slot `name` of `var` as a NumPy copy (None before its first update).")
      .def(
          "set_slot",
          [](optim::Optimizer& self, const std::string& name, const Variable& v, py::handle value) {
            slot_table(self, name).set(*v, to_tensor_no_watch(value));
          },
          py::arg("name"), py::arg("var"), py::arg("value"),
          "Restores the slot `name` of `var` from a saved array of the variable's shape and "
          "dtype.");

  py::class_<optim::SGD, optim::Optimizer, std::shared_ptr<optim::SGD>>(m, "SGD")
      .def(py::init<double, bool>(), py::arg("momentum") = 0.0, py::arg("nesterov") = false)
      .def("velocity", [](const optim::SGD& self, const Variable& v) {
        return slot_or_none(self.velocity(*v));
      });

  py::class_<optim::Adam, optim::Optimizer, std::shared_ptr<optim::Adam>>(m, "Adam")
      .def(py::init<double, double, double>(), py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999,
           py::arg("epsilon") = 1e-7)
      .def("first_moment", [](const optim::Adam& self,
                              const Variable& v) { return slot_or_none(self.first_moment(*v)); })
      .def("second_moment", [](const optim::Adam& self, const Variable& v) {
        return slot_or_none(self.second_moment(*v));
      });

  py::class_<optim::AdamW, optim::Adam, std::shared_ptr<optim::AdamW>>(m, "AdamW")
      .def(py::init<double, double, double, double>(), py::arg("weight_decay") = 0.004,
           py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999, py::arg("epsilon") = 1e-7);

  py::class_<optim::RMSprop, optim::Optimizer, std::shared_ptr<optim::RMSprop>>(m, "RMSprop")
      .def(py::init<double, double, double, bool>(), py::arg("rho") = 0.9,
           py::arg("momentum") = 0.0, py::arg("epsilon") = 1e-7, py::arg("centered") = false)
      .def("velocity", [](const optim::RMSprop& self,
                          const Variable& v) { return slot_or_none(self.velocity(*v)); })
      .def("momentum", [](const optim::RMSprop& self,
                          const Variable& v) { return slot_or_none(self.momentum(*v)); })
      .def("average_gradient", [](const optim::RMSprop& self, const Variable& v) {
        return slot_or_none(self.average_gradient(*v));
      });

  py::class_<optim::Adagrad, optim::Optimizer, std::shared_ptr<optim::Adagrad>>(m, "Adagrad")
      .def(py::init<double, double>(), py::arg("initial_accumulator_value") = 0.1,
           py::arg("epsilon") = 1e-7)
      .def("accumulator", [](const optim::Adagrad& self, const Variable& v) {
        return slot_or_none(self.accumulator(*v));
      });
}

}  // namespace tg::py_bind
