// tg.custom_gradient for Python (python/tapegrad/custom_gradient.py): the decorated call (the
// function run under a variable watcher, its result checked and recorded) and a CustomVjp around
// the user's grad_fn, checked as it answers.
#include <pybind11/stl.h>

#include <algorithm>

#include "convert.h"
#include "tapegrad/errors.h"
#include "tapegrad/ops.h"

namespace tg::py_bind {

namespace {

// grad_fn(*upstreams[, variables=...]) for output `output` of a custom function: its upstream is
// the sweep's g, the other outputs' are zeros (a VJP is linear in the upstream, so the sum of
// these calls over the outputs is the one call with every upstream).
class PyCustomVjp final : public CustomVjp {
 public:
  PyCustomVjp(std::string name, py::function grad_fn, std::size_t output,
              std::vector<Tensor> outputs, std::size_t n_args, std::vector<Variable> variables)
      : name_(std::move(name)),
        grad_fn_(std::move(grad_fn)),
        output_(output),
        n_args_(n_args),
        variables_(std::move(variables)) {
    for (const Tensor& t : outputs) output_types_.push_back({0, t.dtype(), t.shape()});
  }

  ~PyCustomVjp() override {
    if (!Py_IsInitialized()) {
      grad_fn_.release();  // the interpreter is gone: nothing left to decrement
      return;
    }
    py::gil_scoped_acquire gil;
    grad_fn_ = py::function();
  }

  Grads vjp(const Node& node, const Tensor& g, Needs) const override {
    py::gil_scoped_acquire gil;
    py::tuple upstream(output_types_.size());
    for (std::size_t i = 0; i < output_types_.size(); ++i)
      upstream[i] =
          wrap(i == output_ ? g : Tensor::zeros(output_types_[i].dtype, output_types_[i].shape));
    py::object result;
    if (variables_.empty()) {
      result = grad_fn_(*upstream);
    } else {
      py::list vars;
      for (const Variable& v : variables_) vars.append(py::cast(v));
      result = grad_fn_(*upstream, py::arg("variables") = vars);
    }
    py::object input_part = result, variable_part;
    if (!variables_.empty()) {
      if (!py::isinstance<py::sequence>(result) || py::len(result) != 2)
        throw ValueError(where() +
                         " reads variables, so grad_fn must return (input_gradients, "
                         "variable_gradients)");
      input_part = result[py::int_(0)];
      variable_part = result[py::int_(1)];
    }
    Grads grads(node.inputs.size());
    collect(input_part, 0, n_args_, "inputs", node, grads);
    if (!variables_.empty())
      collect(variable_part, n_args_, variables_.size(), "variables", node, grads);
    return grads;
  }

 private:
  std::string where() const { return "custom_gradient '" + name_ + "'"; }

  // grads[first + i] from the i-th of `count` gradients in `part` (a sequence, or a bare tensor or
  // None when count is 1), each None or of its input's shape.
  void collect(py::handle part, std::size_t first, std::size_t count, const char* what,
               const Node& node, Grads& grads) const {
    std::vector<py::object> items;
    const bool sequence = py::isinstance<py::sequence>(part) && !py::isinstance<py::str>(part);
    const bool bare = count == 1 && (part.is_none() || is_tensor(part) || !sequence);
    if (bare) {
      items.push_back(py::reinterpret_borrow<py::object>(part));
    } else {
      if (!sequence)
        throw TypeError(where() + ": grad_fn must return a gradient per " + std::string(what) +
                        " entry, got " + std::string(py::str(py::type::of(part).attr("__name__"))));
      for (py::handle h : py::reinterpret_borrow<py::sequence>(part))
        items.push_back(py::reinterpret_borrow<py::object>(h));
    }
    if (items.size() != count)
      throw ValueError(where() + ": grad_fn returned " + std::to_string(items.size()) +
                       " gradients for " + std::to_string(count) + " " + what);
    for (std::size_t i = 0; i < count; ++i) {
      if (items[i].is_none()) continue;
      const InputMeta& in = node.inputs[first + i];
      Tensor t = to_tensor(items[i], in.dtype);
      if (t.shape() != in.shape)
        throw ValueError(where() + ": the gradient of " + (first ? "variable " : "input ") +
                         std::to_string(i) + " has shape " + shape_str(t.shape()) + " but that " +
                         (first ? "variable" : "input") + " has shape " + shape_str(in.shape));
      grads[first + i] = t.dtype() == in.dtype ? t : cast(t, in.dtype);
    }
  }

  std::string name_;
  py::function grad_fn_;
  std::size_t output_;
  std::vector<InputMeta> output_types_;
  std::size_t n_args_;
  std::vector<Variable> variables_;
};

// The outputs of a custom function under new ids that the tapes record as one op of the inputs
// and variable values, whose VJP is grad_fn.
py::list record_outputs(const std::string& name, std::vector<Tensor> ins, std::size_t n_args,
                        const std::vector<Tensor>& outs, const py::function& grad_fn,
                        const std::vector<Variable>& variables) {
  py::list result;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    auto vjp = std::make_shared<PyCustomVjp>(name, grad_fn, i, outs, n_args, variables);
    result.append(wrap(custom_gradient(ins, outs[i], std::move(vjp))));
  }
  return result;
}

// tg.custom_gradient's call: f(*args) under a variable watcher, its (outputs, grad_fn) checked,
// the outputs recorded. In C++ so that the decorated call costs little more than f's own ops.
// accepts_variables(grad_fn) is asked only when f read trainable variables not passed as inputs.
py::object custom_gradient_call(const std::string& name, const py::function& f,
                                const py::tuple& args, const py::function& accepts_variables) {
  std::vector<Tensor> ins;
  ins.reserve(args.size());
  std::vector<std::uint64_t> passed;  // variables given as inputs are inputs, not `variables`
  py::tuple call_args(args.size());
  for (std::size_t i = 0; i < args.size(); ++i) {
    py::handle a = args[i];
    if (is_variable(a)) {
      passed.push_back(variable_of(a)->id);
      call_args[i] = a;
    } else if (!is_tensor(a)) {
      call_args[i] = wrap(to_tensor(a));
    } else {
      call_args[i] = a;
    }
  }
  VariableWatcher watcher;
  watcher.enter();
  py::object result;
  try {
    result = f(*call_args);
  } catch (...) {
    watcher.exit();
    throw;
  }
  watcher.exit();
  if (!PyTuple_Check(result.ptr()) && !PyList_Check(result.ptr()))
    throw TypeError("custom_gradient '" + name +
                    "': the function must return (outputs, grad_fn), got " +
                    std::string(py::str(py::type::of(result).attr("__name__"))));
  py::sequence pair = py::reinterpret_borrow<py::sequence>(result);
  if (py::len(pair) != 2 || !PyCallable_Check(py::object(pair[1]).ptr()))
    throw TypeError("custom_gradient '" + name + "': the function must return (outputs, grad_fn)");
  py::object outputs = pair[0];
  py::function grad_fn = py::reinterpret_borrow<py::function>(py::object(pair[1]));
  for (py::handle a : call_args) ins.push_back(to_tensor(a));  // a variable input: its value read
  const std::size_t n_args = ins.size();
  std::vector<Variable> variables;
  for (std::size_t i = 0; i < watcher.variables().size(); ++i) {
    const Variable& v = watcher.variables()[i];
    if (std::find(passed.begin(), passed.end(), v->id) != passed.end()) continue;
    variables.push_back(v);
    ins.push_back(watcher.values()[i]);
  }
  if (!variables.empty() && !accepts_variables(grad_fn).cast<bool>()) {
    std::string names;
    for (const Variable& v : variables) names += (names.empty() ? "'" : ", '") + v->name + "'";
    throw TypeError("custom_gradient '" + name + "' reads variables [" + names +
                    "], so grad_fn must accept a keyword argument 'variables' and return "
                    "(input_grads, variable_grads)");
  }
  const bool single = is_tensor(outputs);
  std::vector<Tensor> outs;
  if (single) {
    outs.push_back(tensor_of(outputs));
  } else {
    if (!PyTuple_Check(outputs.ptr()) && !PyList_Check(outputs.ptr()))
      throw TypeError("custom_gradient '" + name + "': the function must return tensors, got " +
                      std::string(py::str(py::type::of(outputs).attr("__name__"))));
    for (py::handle h : outputs) {
      if (!is_tensor(h))
        throw TypeError("custom_gradient '" + name + "': the function must return tensors, got " +
                        std::string(py::str(py::type::of(h).attr("__name__"))));
      outs.push_back(tensor_of(h));
    }
  }
  py::list recorded = record_outputs(name, std::move(ins), n_args, outs, grad_fn, variables);
  if (single) return recorded[0];
  if (PyTuple_Check(outputs.ptr())) return py::tuple(recorded);
  return std::move(recorded);
}

}  // namespace

void bind_custom_gradient(py::module_& m) {
  m.def("custom_gradient_call", &custom_gradient_call, py::arg("name"), py::arg("f"),
        py::arg("args"), py::arg("accepts_variables"),
        "tg.custom_gradient's call (custom_gradient.py).");
}

}  // namespace tg::py_bind
