// tg.custom_gradient for Python (python/tapegrad/custom_gradient.py): the decorated function (the
// function run under a variable watcher, its result checked and recorded) and a CustomVjp around
// the user's grad_fn, checked as it answers.
//
// The decorated function is a CPython type with a vectorcall entry (like Tensor and GradientTape,
// tensor_type.cpp and tape.cpp): a Python wrapper frame plus a pybind11 call with four converted
// arguments cost about as much as the recorded op itself.
#include <pybind11/stl.h>

#include <structmember.h>

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
  PyCustomVjp(py::handle name, py::handle grad_fn, std::size_t output,
              const std::vector<Tensor>& outputs, std::size_t n_args,
              const std::vector<Variable>& variables)
      : name_(py::reinterpret_borrow<py::object>(name)),
        grad_fn_(py::reinterpret_borrow<py::object>(grad_fn)),
        output_(output),
        n_args_(n_args),
        variables_(variables) {
    output_types_.reserve(outputs.size());
    for (const Tensor& t : outputs) output_types_.push_back({0, t.dtype(), t.shape()});
  }

  ~PyCustomVjp() override {
    if (!Py_IsInitialized()) {  // the interpreter is gone: nothing left to decrement
      grad_fn_.release();
      name_.release();
      return;
    }
    // A tape is almost always freed by Python (its GradientTape object), so with the GIL held:
    // then the references go directly, without a GIL acquire and release.
    if (PyGILState_Check()) {
      grad_fn_ = py::object();
      name_ = py::object();
      return;
    }
    py::gil_scoped_acquire gil;
    grad_fn_ = py::object();
    name_ = py::object();
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
  std::string where() const { return "custom_gradient '" + std::string(py::str(name_)) + "'"; }

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

  py::object name_;  // a str
  py::object grad_fn_;
  std::size_t output_;
  std::vector<InputMeta> output_types_;
  std::size_t n_args_;
  std::vector<Variable> variables_;
};

std::string type_name(py::handle obj) {
  return std::string(py::str(py::type::of(obj).attr("__name__")));
}

// tg.custom_gradient's call: f(*args) under a variable watcher, its (outputs, grad_fn) checked,
// the outputs recorded under new ids as one op of the inputs and variable values whose VJP is
// grad_fn. accepts_variables(grad_fn) is asked only when f read trainable variables not passed as
// inputs.
py::object custom_gradient_call(py::handle name, py::handle f, PyObject* const* args,
                                std::size_t n_args, py::handle accepts_variables) {
  auto where = [&] { return "custom_gradient '" + std::string(py::str(name)) + "'"; };
  std::vector<std::uint64_t> passed;  // variables given as inputs are inputs, not `variables`
  // f sees its arguments as given, numbers and arrays as tensors (then a converted copy).
  std::vector<py::object> converted;  // empty while every argument is a tensor or variable
  for (std::size_t i = 0; i < n_args; ++i) {
    py::handle a = args[i];
    if (is_variable(a)) {
      passed.push_back(variable_of(a)->id);
    } else if (!is_tensor(a)) {
      if (converted.empty())
        for (std::size_t j = 0; j < n_args; ++j)
          converted.push_back(py::reinterpret_borrow<py::object>(args[j]));
      converted[i] = wrap(to_tensor(a));
    }
  }
  std::vector<PyObject*> converted_ptrs;
  for (const py::object& o : converted) converted_ptrs.push_back(o.ptr());
  PyObject* const* call_args = converted.empty() ? args : converted_ptrs.data();
  VariableWatcher watcher;
  watcher.enter();
  PyObject* raw = PyObject_Vectorcall(f.ptr(), call_args, n_args, nullptr);
  watcher.exit();
  if (!raw) throw py::error_already_set();
  py::object result = py::reinterpret_steal<py::object>(raw);
  if (!PyTuple_Check(raw) && !PyList_Check(raw))
    throw TypeError(where() + ": the function must return (outputs, grad_fn), got " +
                    type_name(result));
  if (PySequence_Fast_GET_SIZE(raw) != 2 || !PyCallable_Check(PySequence_Fast_GET_ITEM(raw, 1)))
    throw TypeError(where() + ": the function must return (outputs, grad_fn)");
  py::handle outputs = PySequence_Fast_GET_ITEM(raw, 0);
  py::handle grad_fn = PySequence_Fast_GET_ITEM(raw, 1);
  std::vector<Tensor> ins;
  ins.reserve(n_args);
  for (std::size_t i = 0; i < n_args; ++i)
    ins.push_back(to_tensor(call_args[i]));  // a variable: its value read
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
    throw TypeError(where() + " reads variables [" + names +
                    "], so grad_fn must accept a keyword argument 'variables' and return "
                    "(input_grads, variable_grads)");
  }
  std::vector<Tensor> outs;
  const bool single = is_tensor(outputs);
  if (single) {
    outs.push_back(tensor_of(outputs));
  } else {
    if (!PyTuple_Check(outputs.ptr()) && !PyList_Check(outputs.ptr()))
      throw TypeError(where() + ": the function must return tensors, got " + type_name(outputs));
    for (py::handle h : outputs) {
      if (!is_tensor(h))
        throw TypeError(where() + ": the function must return tensors, got " + type_name(h));
      outs.push_back(tensor_of(h));
    }
  }
  auto record = [&](std::size_t i) {
    auto vjp = std::make_shared<PyCustomVjp>(name, grad_fn, i, outs, n_args, variables);
    return wrap(custom_gradient(ins, outs[i], std::move(vjp)));
  };
  if (single) return record(0);  // no list for the common single output
  py::list recorded(outs.size());
  for (std::size_t i = 0; i < outs.size(); ++i)
    PyList_SET_ITEM(recorded.ptr(), i, record(i).release().ptr());
  if (PyTuple_Check(outputs.ptr())) return py::tuple(recorded);
  return std::move(recorded);
}

// ---- the decorated function: CustomGradientFunction(f, name, accepts_variables) --------------
struct PyCustomFunction {
  PyObject_HEAD vectorcallfunc vectorcall;
  PyObject* fn;                 // the decorated f
  PyObject* name;               // f's name, for messages
  PyObject* accepts_variables;  // custom_gradient.py's _accepts_variables
  PyObject* dict;               // __name__, __doc__, __wrapped__, ... (functools.update_wrapper)
  PyObject* weakrefs;
};

PyCustomFunction* as_custom(PyObject* self) { return reinterpret_cast<PyCustomFunction*>(self); }

PyObject* new_ref(PyObject* o) {  // Py_NewRef, which Python 3.9 lacks
  Py_INCREF(o);
  return o;
}

PyObject* custom_function_call(PyObject* self, PyObject* const* args, std::size_t nargsf,
                               PyObject* kwnames) {
  PyCustomFunction* c = as_custom(self);
  return guarded([&]() -> py::object {
    if (kwnames && PyTuple_GET_SIZE(kwnames) > 0) {
      py::list names = py::reinterpret_borrow<py::list>(PySequence_List(kwnames));
      names.attr("sort")();
      throw TypeError("custom_gradient '" + std::string(py::str(c->name)) +
                      "': pass the inputs positionally (keyword arguments " +
                      std::string(py::repr(names)) + " have no gradient)");
    }
    return custom_gradient_call(c->name, c->fn, args, PyVectorcall_NARGS(nargsf),
                                c->accepts_variables);
  });
}

PyObject* custom_function_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  PyObject *fn, *name, *accepts_variables;
  static const char* keywords[] = {"fn", "name", "accepts_variables", nullptr};
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OUO:CustomGradientFunction",
                                   const_cast<char**>(keywords), &fn, &name, &accepts_variables))
    return nullptr;
  if (!PyCallable_Check(fn) || !PyCallable_Check(accepts_variables)) {
    PyErr_SetString(PyExc_TypeError,
                    "CustomGradientFunction: fn and accepts_variables must be callable");
    return nullptr;
  }
  PyObject* self = type->tp_alloc(type, 0);
  if (!self) return nullptr;
  PyCustomFunction* c = as_custom(self);
  c->vectorcall = custom_function_call;
  c->fn = new_ref(fn);
  c->name = new_ref(name);
  c->accepts_variables = new_ref(accepts_variables);
  c->dict = nullptr;
  c->weakrefs = nullptr;
  return self;
}

int custom_function_traverse(PyObject* self, visitproc visit, void* arg) {
  PyCustomFunction* c = as_custom(self);
  Py_VISIT(c->fn);
  Py_VISIT(c->name);
  Py_VISIT(c->accepts_variables);
  Py_VISIT(c->dict);
  Py_VISIT(Py_TYPE(self));
  return 0;
}

int custom_function_clear(PyObject* self) {
  PyCustomFunction* c = as_custom(self);
  Py_CLEAR(c->fn);
  Py_CLEAR(c->name);
  Py_CLEAR(c->accepts_variables);
  Py_CLEAR(c->dict);
  return 0;
}

void custom_function_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  if (as_custom(self)->weakrefs) PyObject_ClearWeakRefs(self);
  custom_function_clear(self);
  type->tp_free(self);
  Py_DECREF(type);
}

// As a class attribute it binds like a function: instance.method(x) passes the instance first.
PyObject* custom_function_get(PyObject* self, PyObject* obj, PyObject*) {
  if (!obj || obj == Py_None) return new_ref(self);
  return PyMethod_New(self, obj);
}

PyObject* custom_function_repr(PyObject* self) {
  return PyUnicode_FromFormat("<custom_gradient function %S>", as_custom(self)->name);
}

}  // namespace

void bind_custom_gradient(py::module_& m) {
  static PyMemberDef members[] = {
      {"__vectorcalloffset__", T_PYSSIZET, offsetof(PyCustomFunction, vectorcall), READONLY,
       nullptr},
      {"__dictoffset__", T_PYSSIZET, offsetof(PyCustomFunction, dict), READONLY, nullptr},
      {"__weaklistoffset__", T_PYSSIZET, offsetof(PyCustomFunction, weakrefs), READONLY, nullptr},
      {nullptr, 0, 0, 0, nullptr}};
  static PyGetSetDef getset[] = {
      {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, nullptr, nullptr},
      {nullptr, nullptr, nullptr, nullptr, nullptr}};
  auto fn = [](auto f) { return reinterpret_cast<void*>(f); };
  static PyType_Slot slots[] = {
      {Py_tp_new, fn(custom_function_new)},
      {Py_tp_dealloc, fn(custom_function_dealloc)},
      {Py_tp_traverse, fn(custom_function_traverse)},
      {Py_tp_clear, fn(custom_function_clear)},
      {Py_tp_call, fn(PyVectorcall_Call)},
      {Py_tp_descr_get, fn(custom_function_get)},
      {Py_tp_repr, fn(custom_function_repr)},
      {Py_tp_members, members},
      {Py_tp_getset, getset},
      {Py_tp_doc,
       const_cast<char*>("A tg.custom_gradient function (custom_gradient.py): calling it runs fn "
                         "and records its outputs with fn's grad_fn as their VJP.")},
      {0, nullptr}};
  static PyType_Spec spec = {"tapegrad._core.CustomGradientFunction", sizeof(PyCustomFunction), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
                             slots};
  PyObject* type = PyType_FromSpec(&spec);
  if (!type) throw py::error_already_set();
  m.add_object("CustomGradientFunction", type);
}

}  // namespace tg::py_bind
