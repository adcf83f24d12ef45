// GradientTape for Python: the C++ tape plus TensorFlow's argument structures (a target or list
// of targets; sources as a tensor, list, tuple, dict or any nesting, returned in that structure).
// The structure handling lives here, in C++, because the seed's whole cell must cost a few
// microseconds and a Python-level flatten/pack alone would cost about one.
//
// Like Tensor (tensor_type.cpp), the type is written against the CPython API: a pybind11 class
// cost about 7,000 instructions to construct (instance registry, holder, keyword lookup that
// interns each argument name per call) and 3,000 more per `with`, a third of the seed's whole
// nested-tape cell. Here construction, __enter__ and __exit__ are a few hundred.
#include <pybind11/stl.h>

#include <structmember.h>

#include "convert.h"
#include "tapegrad/errors.h"

namespace tg::py_bind {

namespace {

// Leaves of a nested list/tuple/dict (dict values in sorted-key order, as tf.nest).
void flatten(py::handle obj, std::vector<py::handle>& out) {
  if (PyList_Check(obj.ptr())) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(obj.ptr()); ++i)
      flatten(PyList_GET_ITEM(obj.ptr(), i), out);
  } else if (PyTuple_Check(obj.ptr())) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(obj.ptr()); ++i)
      flatten(PyTuple_GET_ITEM(obj.ptr(), i), out);
  } else if (py::isinstance<py::dict>(obj)) {
    py::list keys = py::module_::import("builtins").attr("sorted")(obj.attr("keys")());
    for (py::handle k : keys) flatten(obj[k], out);
  } else {
    out.push_back(obj);
  }
}

// The same structure as `like`, filled from `leaves` in order.
py::object pack(py::handle like, const std::vector<py::object>& leaves, std::size_t& pos) {
  if (PyList_Check(like.ptr())) {
    const Py_ssize_t n = PyList_GET_SIZE(like.ptr());
    py::list out(n);
    for (Py_ssize_t i = 0; i < n; ++i)
      PyList_SET_ITEM(out.ptr(), i,
                      pack(PyList_GET_ITEM(like.ptr(), i), leaves, pos).release().ptr());
    return std::move(out);
  }
  if (py::isinstance<py::tuple>(like)) {
    std::vector<py::object> items;
    for (py::handle item : like) items.push_back(pack(item, leaves, pos));
    py::tuple t(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) t[i] = items[i];
    if (py::type::of(like).is(py::type::of(t))) return std::move(t);
    return py::type::of(like)(*t);  // a namedtuple keeps its type
  }
  if (py::isinstance<py::dict>(like)) {
    py::list keys = py::module_::import("builtins").attr("sorted")(like.attr("keys")());
    py::dict out;
    for (py::handle k : keys) out[k] = pack(like[k], leaves, pos);
    return std::move(out);
  }
  return leaves[pos++];
}

Endpoint to_endpoint(py::handle obj, const char* role) {
  if (is_variable(obj)) return {Tensor(), variable_of(obj)};
  if (is_tensor(obj)) return {tensor_of(obj), nullptr};
  throw TypeError(std::string("gradient: every ") + role +
                  " must be a Tensor or Variable, got an object of type " +
                  std::string(py::str(py::type::of(obj).attr("__name__"))));
}

bool parse_unconnected(py::handle u) {
  // A str ("none"/"zero") or an enum member whose .value is one (tg.UnconnectedGradients).
  if (PyUnicode_Check(u.ptr())) {  // the common case, without building a std::string
    if (PyUnicode_CompareWithASCIIString(u.ptr(), "none") == 0) return false;
    if (PyUnicode_CompareWithASCIIString(u.ptr(), "zero") == 0) return true;
  }
  const std::string s = py::str(py::isinstance<py::str>(u) ? py::reinterpret_borrow<py::object>(u)
                                                           : py::getattr(u, "value", u));
  if (s == "none") return false;
  if (s == "zero") return true;
  throw ValueError("Unknown value for unconnected_gradients: '" + s + "'");
}

Endpoint to_jacobian_endpoint(py::handle obj, const char* fn, const char* role) {
  if (is_variable(obj)) return {Tensor(), variable_of(obj)};
  if (is_tensor(obj)) return {tensor_of(obj), nullptr};
  throw TypeError(std::string(fn) + ": the " + role +
                  " must be a Tensor or Variable, got an object of type " +
                  std::string(py::str(py::type::of(obj).attr("__name__"))));
}

// experimental_use_pfor=False is TF's per-row Python loop, which needs a persistent tape; the
// sweep here always runs in C++, but the same call must fail the same way.
void check_pfor(const Tape& t, bool use_pfor, const char* fn) {
  if (!use_pfor && !t.persistent())
    throw std::runtime_error(
        std::string("GradientTape must be created with persistent=True to compute the ") + fn +
        " with eager execution enabled and with experimental_use_pfor set to False.");
}

// StopRecording: `with tape.stop_recording():` pauses the tape for the block.
struct StopRecording {
  std::shared_ptr<Tape> tape;
};

// ---- argument parsing for METH_FASTCALL | METH_KEYWORDS methods -------------------------------

// Fills out[i] with the argument for names[i] (positional first, then keywords), nullptr when
// not given; TypeError for a missing required one, an unknown keyword or too many positionals.
template <std::size_t N>
void parse_args(const char* fn, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                const char* const (&names)[N], std::size_t n_required, PyObject* (&out)[N]) {
  for (auto& o : out) o = nullptr;
  if (static_cast<std::size_t>(nargs) > N)
    throw TypeError(std::string(fn) + "() takes at most " + std::to_string(N) + " arguments (" +
                    std::to_string(nargs) + " given)");
  for (Py_ssize_t i = 0; i < nargs; ++i) out[i] = args[i];
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, k);
    std::size_t i = 0;
    while (i < N && PyUnicode_CompareWithASCIIString(key, names[i]) != 0) ++i;
    if (i == N)
      throw TypeError(std::string(fn) + "() got an unexpected keyword argument '" +
                      std::string(py::str(key)) + "'");
    if (out[i])
      throw TypeError(std::string(fn) + "() got multiple values for argument '" + names[i] + "'");
    out[i] = args[nargs + k];
  }
  for (std::size_t i = 0; i < n_required; ++i)
    if (!out[i])
      throw TypeError(std::string(fn) + "() missing required argument '" + names[i] + "'");
}

PyObject* or_default(PyObject* given, PyObject* fallback) { return given ? given : fallback; }

bool truthy(PyObject* o) {
  const int r = PyObject_IsTrue(o);
  if (r < 0) throw py::error_already_set();
  return r != 0;
}

// ---- the GradientTape type ----------------------------------------------------------------------

struct PyTape {
  PyObject_HEAD std::shared_ptr<Tape> tape;  // set by __init__
  PyObject* weakrefs;
};

PyTape* as_tape(PyObject* o) { return reinterpret_cast<PyTape*>(o); }

Tape& tape_of(PyObject* self) {
  Tape* t = as_tape(self)->tape.get();
  if (!t) throw std::runtime_error("GradientTape.__init__ was not called");
  return *t;
}

PyObject* tape_new(PyTypeObject* type, PyObject*, PyObject*) {
  PyObject* self = type->tp_alloc(type, 0);
  if (!self) return nullptr;
  new (&as_tape(self)->tape) std::shared_ptr<Tape>();
  as_tape(self)->weakrefs = nullptr;
  return self;
}

const char* const kTapeArgs[] = {"persistent", "watch_accessed_variables"};

void init_tape(PyObject* self, PyObject* (&a)[2]) {
  const bool persistent = a[0] ? truthy(a[0]) : false;
  const bool watch_accessed = a[1] ? truthy(a[1]) : true;
  as_tape(self)->tape =
      std::make_shared<Tape>(persistent, watch_accessed);  // a re-init starts afresh
}

// __init__, for subclasses (and GradientTape.__init__(t, ...)); GradientTape(...) itself takes
// tape_vectorcall below.
int tape_init(PyObject* self, PyObject* args, PyObject* kwargs) {
  try {
    std::vector<PyObject*> flat;
    const Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    for (Py_ssize_t i = 0; i < nargs; ++i) flat.push_back(PyTuple_GET_ITEM(args, i));
    py::tuple kwnames(kwargs ? PyDict_GET_SIZE(kwargs) : 0);
    Py_ssize_t pos = 0, k = 0;
    PyObject *key, *value;
    while (kwargs && PyDict_Next(kwargs, &pos, &key, &value)) {
      kwnames[k++] = py::reinterpret_borrow<py::object>(key);
      flat.push_back(value);
    }
    PyObject* a[2];
    parse_args("GradientTape", flat.data(), nargs, kwargs ? kwnames.ptr() : nullptr, kTapeArgs, 0,
               a);
    init_tape(self, a);
    return 0;
  } catch (...) {
    set_python_error(std::current_exception());
    return -1;
  }
}

// GradientTape(...) without the generic type call (which builds an args tuple and a kwargs dict,
// then looks every keyword up by a freshly made string).
PyObject* tape_vectorcall(PyObject* type, PyObject* const* args, std::size_t nargsf,
                          PyObject* kwnames) {
  PyObject* self = tape_new(reinterpret_cast<PyTypeObject*>(type), nullptr, nullptr);
  if (!self) return nullptr;
  try {
    PyObject* a[2];
    parse_args("GradientTape", args, PyVectorcall_NARGS(nargsf), kwnames, kTapeArgs, 0, a);
    init_tape(self, a);
    return self;
  } catch (...) {
    Py_DECREF(self);
    set_python_error(std::current_exception());
    return nullptr;
  }
}

void tape_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  if (as_tape(self)->weakrefs) PyObject_ClearWeakRefs(self);
  as_tape(self)->tape.~shared_ptr<Tape>();
  type->tp_free(self);
  Py_DECREF(type);
}

PyObject* m_enter(PyObject* self, PyObject*) {
  return guarded([&] {
    tape_of(self).enter();
    return py::reinterpret_borrow<py::object>(self);
  });
}

PyObject* m_exit(PyObject* self, PyObject* const*, Py_ssize_t) {
  return guarded([&] {
    tape_of(self).exit();
    return py::reinterpret_borrow<py::object>(Py_False);
  });
}

PyObject* m_watch(PyObject* self, PyObject* obj) {
  return guarded([&] {
    Tape& t = tape_of(self);
    std::vector<py::handle> leaves;
    flatten(obj, leaves);
    for (py::handle leaf : leaves) {
      const bool var = is_variable(leaf);
      if (var || is_tensor(leaf)) {
        const DType dt = var ? variable_of(leaf)->value.dtype() : tensor_of(leaf).dtype();
        if (!is_floating(dt)) {  // TensorFlow's warning; the tape ignores it (never differentiable)
          const std::string msg =
              "The dtype of the watched tensor must be floating (e.g. tg.float32), got tg." +
              std::string(dtype_name(dt));
          if (PyErr_WarnEx(PyExc_UserWarning, msg.c_str(), 1) < 0) throw py::error_already_set();
          continue;
        }
      }
      if (var)
        t.watch(variable_of(leaf));
      else if (is_tensor(leaf))
        t.watch(tensor_of(leaf));
      else
        throw ValueError("Passed in object of type " +
                         std::string(py::str(py::type::of(leaf).attr("__name__"))) +
                         ", not tg.Tensor or tg.Variable");
    }
    return py::none();
  });
}

PyObject* m_gradient(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return guarded([&]() -> py::object {
    static const char* const names[] = {"target", "sources", "output_gradients",
                                        "unconnected_gradients"};
    PyObject* a[4];
    parse_args("gradient", args, nargs, kwnames, names, 2, a);
    Tape& t = tape_of(self);
    py::handle target = a[0], sources = a[1], output_gradients = or_default(a[2], Py_None);
    std::vector<py::handle> target_leaves, source_leaves;
    flatten(target, target_leaves);
    flatten(sources, source_leaves);
    if (target_leaves.empty()) throw ValueError("gradient: no target given");
    std::vector<Endpoint> targets, srcs;
    targets.reserve(target_leaves.size());
    srcs.reserve(source_leaves.size());
    for (py::handle h : target_leaves) targets.push_back(to_endpoint(h, "target"));
    for (py::handle h : source_leaves) srcs.push_back(to_endpoint(h, "source"));
    std::vector<Tensor> out_grads;
    if (!output_gradients.is_none()) {
      std::vector<py::handle> og;
      flatten(output_gradients, og);
      for (std::size_t i = 0; i < og.size(); ++i) {
        if (og[i].is_none()) {
          out_grads.emplace_back();
          continue;
        }
        const Endpoint& e = i < targets.size() ? targets[i] : targets[0];
        const DType like = e.variable ? e.variable->value.dtype() : e.tensor.dtype();
        out_grads.push_back(to_tensor(og[i], like));
      }
    }
    const bool zero = a[3] ? parse_unconnected(a[3]) : false;
    std::vector<Tensor> grads = t.gradient(targets, srcs, out_grads, zero);
    if (PyList_Check(sources.ptr()) && source_leaves.size() == grads.size() &&
        static_cast<std::size_t>(PyList_GET_SIZE(sources.ptr())) == grads.size()) {
      py::list out(grads.size());  // a flat list of sources, the common case
      for (std::size_t i = 0; i < grads.size(); ++i)
        PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), wrap(grads[i]).release().ptr());
      return std::move(out);
    }
    std::vector<py::object> leaves;
    leaves.reserve(grads.size());
    for (const Tensor& g : grads) leaves.push_back(wrap(g));
    std::size_t pos = 0;
    return pack(sources, leaves, pos);
  });
}

PyObject* m_jacobian(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return guarded([&] {
    static const char* const names[] = {"target", "sources", "unconnected_gradients",
                                        "parallel_iterations", "experimental_use_pfor"};
    PyObject* a[5];
    parse_args("jacobian", args, nargs, kwnames, names, 2, a);
    Tape& t = tape_of(self);
    const Endpoint y = to_jacobian_endpoint(a[0], "jacobian", "target");
    std::vector<py::handle> source_leaves;
    flatten(a[1], source_leaves);
    std::vector<Endpoint> srcs;
    srcs.reserve(source_leaves.size());
    for (py::handle h : source_leaves)
      srcs.push_back(to_jacobian_endpoint(h, "jacobian", "source"));
    const bool zero = a[2] ? parse_unconnected(a[2]) : false;
    check_pfor(t, a[4] ? truthy(a[4]) : true, "jacobian");
    std::vector<Tensor> jacs = t.jacobian(y, srcs, zero);
    std::vector<py::object> leaves;
    leaves.reserve(jacs.size());
    for (const Tensor& j : jacs) leaves.push_back(wrap(j));
    std::size_t pos = 0;
    return pack(a[1], leaves, pos);
  });
}

PyObject* m_batch_jacobian(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                           PyObject* kwnames) {
  return guarded([&] {
    static const char* const names[] = {"target", "source", "unconnected_gradients",
                                        "parallel_iterations", "experimental_use_pfor"};
    PyObject* a[5];
    parse_args("batch_jacobian", args, nargs, kwnames, names, 2, a);
    Tape& t = tape_of(self);
    const Endpoint y = to_jacobian_endpoint(a[0], "batch_jacobian", "target");
    const Endpoint x = to_jacobian_endpoint(a[1], "batch_jacobian", "source");
    const bool zero = a[2] ? parse_unconnected(a[2]) : false;
    check_pfor(t, a[4] ? truthy(a[4]) : true, "batch_jacobian");
    return wrap(t.batch_jacobian(y, x, zero));
  });
}

PyObject* m_stop_recording(PyObject* self, PyObject*) {
  return guarded([&] {
    tape_of(self);
    return py::cast(StopRecording{as_tape(self)->tape});
  });
}

PyObject* m_reset(PyObject* self, PyObject*) {
  return guarded([&] {
    tape_of(self).reset();
    return py::none();
  });
}

PyObject* m_watched_variables(PyObject* self, PyObject*) {
  return guarded([&] {
    const auto vars = tape_of(self).watched_variables();
    py::tuple out(vars.size());
    for (std::size_t i = 0; i < vars.size(); ++i) out[i] = py::cast(vars[i]);
    return std::move(out);
  });
}

// The recorded graph as plain Python data, for python/tapegrad/utils.py (tape_to_dot): nodes in
// recording order, the variable behind each value read, the ids watched by watch(tensor).
PyObject* m_graph(PyObject* self, PyObject*) {
  return guarded([&] {
    const Tape& t = tape_of(self);
    py::list nodes;
    for (const auto& node : t.nodes()) {
      if (!node) continue;  // freed by a non-persistent tape's last sweep
      py::list inputs, input_shapes, input_dtypes;
      for (const InputMeta& in : node->inputs) {
        inputs.append(py::int_(in.id));
        input_shapes.append(shape_tuple(in.shape));
        input_dtypes.append(py::str(dtype_name(in.dtype)));
      }
      py::dict d;
      d["op"] = py::str(node->op->name);
      d["inputs"] = inputs;
      d["input_shapes"] = input_shapes;
      d["input_dtypes"] = input_dtypes;
      d["output"] = py::int_(node->output);
      d["shape"] = shape_tuple(node->out_shape);
      d["dtype"] = py::str(dtype_name(node->out_dtype));
      nodes.append(d);
    }
    py::list reads;
    for (const auto& [value_id, var] : t.variable_reads()) {
      py::dict d;
      d["id"] = py::int_(value_id);
      d["variable"] = py::int_(var->id);
      d["name"] = py::str(var->name);
      d["trainable"] = py::bool_(var->trainable);
      d["shape"] = shape_tuple(var->value.shape());
      d["dtype"] = py::str(dtype_name(var->value.dtype()));
      reads.append(d);
    }
    py::list watched;
    for (TensorId id : t.watched_tensor_ids()) watched.append(py::int_(id));
    py::dict out;
    out["persistent"] = py::bool_(t.persistent());
    out["nodes"] = nodes;
    out["variable_reads"] = reads;
    out["watched"] = watched;
    return py::object(std::move(out));
  });
}

PyObject* get_persistent(PyObject* self, void*) {
  return guarded([&] { return py::bool_(tape_of(self).persistent()); });
}
PyObject* get_recording(PyObject* self, void*) {
  return guarded([&] { return py::bool_(tape_of(self).recording()); });
}
PyObject* get_num_nodes(PyObject* self, void*) {
  return guarded([&] { return py::int_(tape_of(self).num_nodes()); });
}

template <class F>
PyCFunction cfn(F f) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f));
}

// Each doc starts with the signature CPython turns into __text_signature__, then the typed one
// python/tapegrad/_core.pyi is generated from (Note [Text signatures] in text_signatures.cpp).
PyMethodDef tape_methods[] = {
    {"__enter__", cfn(m_enter), METH_NOARGS,
     "__enter__($self, /)\n--\n\n__enter__(self) -> tapegrad._core.GradientTape\n\n"
     "Starts recording on this thread."},
    {"__exit__", cfn(m_exit), METH_FASTCALL,
     "__exit__($self, /, *exc_info)\n--\n\n__exit__(self, *exc_info: typing.Any) -> bool\n\n"
     "Stops recording (exceptions propagate)."},
    {"watch", cfn(m_watch), METH_O,
     "watch($self, tensor, /)\n--\n\nwatch(self, tensor: typing.Any) -> None\n\n"
     "Tracks a Tensor or Variable (or a nested list/tuple/dict of them)."},
    {"gradient", cfn(m_gradient), METH_FASTCALL | METH_KEYWORDS,
     "gradient($self, /, target, sources, output_gradients=None, unconnected_gradients='none')"
     "\n--\n\n"
     "gradient(self, target: typing.Any, sources: typing.Any, output_gradients: typing.Any = None, "
     "unconnected_gradients: str = 'none') -> typing.Any\n\n"
     "Gradients of sum(target) with respect to sources, in the sources' structure (None, or "
     "zeros with unconnected_gradients='zero', for a source the target does not depend on)."},
    {"jacobian", cfn(m_jacobian), METH_FASTCALL | METH_KEYWORDS,
     "jacobian($self, /, target, sources, unconnected_gradients='none', parallel_iterations=None, "
     "experimental_use_pfor=True)\n--\n\n"
     "jacobian(self, target: tapegrad.types.TensorLike, sources: typing.Any, "
     "unconnected_gradients: str = 'none', parallel_iterations: int | None = None, "
     "experimental_use_pfor: bool = True) -> typing.Any\n\n"
     "d target / d source of shape target.shape + source.shape for each source (any nesting, "
     "returned in the same structure); the per-element sweeps run in C++."},
    {"batch_jacobian", cfn(m_batch_jacobian), METH_FASTCALL | METH_KEYWORDS,
     "batch_jacobian($self, /, target, source, unconnected_gradients='none', "
     "parallel_iterations=None, experimental_use_pfor=True)\n--\n\n"
     "batch_jacobian(self, target: tapegrad.types.TensorLike, source: tapegrad.types.TensorLike, "
     "unconnected_gradients: str = 'none', parallel_iterations: int | None = None, "
     "experimental_use_pfor: bool = True) -> tapegrad._core.Tensor | None\n\n"
     "For target [b, y...] and source [b, x...] whose batch rows do not interact, each row's "
     "Jacobian, [b, y..., x...]."},
    {"stop_recording", cfn(m_stop_recording), METH_NOARGS,
     "stop_recording($self, /)\n--\n\n"
     "stop_recording(self) -> tapegrad._core._StopRecording\n\n"
     "A context manager that pauses recording for its block."},
    {"reset", cfn(m_reset), METH_NOARGS,
     "reset($self, /)\n--\n\nreset(self) -> None\n\nDiscards everything recorded so far."},
    {"watched_variables", cfn(m_watched_variables), METH_NOARGS,
     "watched_variables($self, /)\n--\n\n"
     "watched_variables(self) -> tuple[tapegrad._core.Variable, ...]\n\n"
     "The variables this tape watches, in the order they were first watched."},
    {"_graph", cfn(m_graph), METH_NOARGS,
     "_graph($self, /)\n--\n\n_graph(self) -> dict[str, typing.Any]\n\n"
     "The recorded graph as plain data: {'persistent', 'nodes' (op, inputs, input_shapes, "
     "input_dtypes, output, shape, dtype), 'variable_reads' (id, variable, name, trainable, shape, "
     "dtype), 'watched' (ids)}; what tapegrad.utils.tape_to_dot draws."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef tape_getset[] = {
    {"persistent", get_persistent, nullptr, "Whether gradient() may be called more than once.",
     nullptr},
    {"recording", get_recording, nullptr,
     "Whether the tape records now (inside its with block, not paused).", nullptr},
    {"num_nodes", get_num_nodes, nullptr, "How many ops this tape holds (for inspection).",
     nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

}  // namespace

void bind_tape(py::module_& m) {
  static PyMemberDef members[] = {
      {"__weaklistoffset__", T_PYSSIZET, offsetof(PyTape, weakrefs), READONLY, nullptr},
      {nullptr, 0, 0, 0, nullptr}};
  auto fn = [](auto f) { return reinterpret_cast<void*>(f); };
  static PyType_Slot slots[] = {
      {Py_tp_new, fn(tape_new)},
      {Py_tp_init, fn(tape_init)},
      {Py_tp_dealloc, fn(tape_dealloc)},
      {Py_tp_methods, tape_methods},
      {Py_tp_getset, tape_getset},
      {Py_tp_members, members},
      {Py_tp_doc,
       const_cast<char*>("GradientTape(persistent=False, watch_accessed_variables=True)\n--\n\n"
                         "GradientTape(persistent: bool = False, watch_accessed_variables: bool = "
                         "True)\n\n"
                         "Records ops on watched tensors for reverse-mode differentiation "
                         "(TensorFlow's rules).")},
      {0, nullptr}};
  static PyType_Spec spec = {"tapegrad._core.GradientTape", sizeof(PyTape), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, slots};
  PyObject* type = PyType_FromSpec(&spec);
  if (!type) throw py::error_already_set();
  // Calls of the type itself go straight to tape_vectorcall (subclasses, which do not inherit
  // it, take tp_new + __init__).
  reinterpret_cast<PyTypeObject*>(type)->tp_vectorcall = tape_vectorcall;
  m.add_object("GradientTape", type);

  py::class_<StopRecording>(m, "_StopRecording")
      .def("__enter__", [](StopRecording& s) { s.tape->pause(); })
      .def("__exit__", [](StopRecording& s, py::args) {
        s.tape->resume();
        return false;
      });
}

}  // namespace tg::py_bind
