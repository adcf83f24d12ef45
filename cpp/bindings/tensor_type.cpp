// The Python Tensor type, written against the CPython API rather than through pybind11: an eager
// op from Python should cost about one C call. Its number slots go straight to the op (no method
// lookup, no argument parsing), and creating the result is one allocation plus a shared_ptr copy
// (pybind11's generic instance machinery costs several times that). Variable reuses the same slots.
#include "convert.h"  // Python.h first

#include <structmember.h>

#include <cmath>
#include <cstring>

#include "tapegrad/errors.h"
#include "tapegrad/ops.h"

namespace tg::py_bind {

namespace {

struct PyTensor {
  PyObject_HEAD TensorPtr impl;
  PyObject* weakrefs;
};

PyTypeObject* g_tensor_type = nullptr;
PyObject* g_dtype_objects[5] =
    {};  // tg.float32, tg.float64, tg.int32, tg.int64, tg.bool (DType order)

PyTensor* as_py(PyObject* o) { return reinterpret_cast<PyTensor*>(o); }

void tensor_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  if (as_py(self)->weakrefs) PyObject_ClearWeakRefs(self);
  as_py(self)->impl.~TensorPtr();
  type->tp_free(self);
  Py_DECREF(type);
}

// Operands we know how to convert; anything else gets NotImplemented so Python can try the
// other operand's method.
bool convertible(PyObject* o) {
  return is_tensor(o) || PyFloat_Check(o) || PyLong_Check(o) || is_variable(o) || PyList_Check(o) ||
         PyTuple_Check(o) || py::isinstance<py::array>(o) || PyObject_HasAttrString(o, "__array__");
}

template <Tensor (*F)(const Tensor&, const Tensor&)>
PyObject* nb_binary(PyObject* a, PyObject* b) {
  if (!convertible(a) || !convertible(b)) Py_RETURN_NOTIMPLEMENTED;
  return guarded([&] {
    auto [x, y] = to_tensors(a, b);
    return wrap(run_op(std::max(x.size(), y.size()), [&] { return F(x, y); }));
  });
}

Tensor matmul_plain(const Tensor& a, const Tensor& b) { return tg::matmul(a, b); }

PyObject* nb_power(PyObject* a, PyObject* b, PyObject* mod) {
  if (mod != Py_None) {
    PyErr_SetString(PyExc_TypeError, "pow() with a modulus is not supported for tensors");
    return nullptr;
  }
  if ((is_tensor(a) || is_variable(a)) && (PyFloat_Check(b) || PyLong_Check(b))) {
    return guarded([&] {
      const Tensor x = to_tensor(a);
      const double p = PyFloat_Check(b) ? PyFloat_AS_DOUBLE(b) : py::cast<double>(b);
      return wrap(run_op(x.size(), [&] { return tg::pow_scalar(x, p); }));
    });
  }
  return nb_binary<tg::pow>(a, b);
}

template <Tensor (*F)(const Tensor&)>
PyObject* nb_unary(PyObject* a) {
  return guarded([&] {
    const Tensor x = to_tensor(a);
    return wrap(run_op(x.size(), [&] { return F(x); }));
  });
}
// <, <=, >, >= compare elementwise (bool tensors). == and != keep Python's identity comparison,
// so tensors and variables stay usable as dict keys; tg.equal / tg.not_equal compare values.
PyObject* tensor_richcompare(PyObject* a, PyObject* b, int op) {
  if (!convertible(a) || !convertible(b)) Py_RETURN_NOTIMPLEMENTED;
  switch (op) {
    case Py_LT: return nb_binary<tg::less>(a, b);
    case Py_LE: return nb_binary<tg::less_equal>(a, b);
    case Py_GT: return nb_binary<tg::greater>(a, b);
    case Py_GE: return nb_binary<tg::greater_equal>(a, b);
    default: Py_RETURN_NOTIMPLEMENTED;
  }
}
Tensor identity(const Tensor& x) { return x; }

PyObject* nb_float(PyObject* a) {
  return guarded([&] {
    const Tensor t = to_tensor_no_watch(a);
    check_untraced(t, "float()");
    return py::float_(t.item());
  });
}
PyObject* nb_int(PyObject* a) {
  return guarded([&] {
    const Tensor t = to_tensor_no_watch(a);
    check_untraced(t, "int()");
    if (t.dtype() == DType::Int64 && t.size() == 1) return py::int_(*t.data<std::int64_t>());
    const double v = t.item();
    if (!std::isfinite(v)) throw ValueError("cannot convert a non-finite value to int");
    return py::int_(py::float_(v));
  });
}
int nb_bool(PyObject* a) {
  try {
    const Tensor t = to_tensor_no_watch(a);
    check_untraced(t, "bool() (an `if` or `while` on a tensor)");
    if (t.size() != 1)
      throw ValueError("the truth value of a tensor with more than one element is ambiguous");
    return t.item() != 0.0;
  } catch (...) {
    set_python_error(std::current_exception());
    return -1;
  }
}

Py_ssize_t mp_length(PyObject* a) {
  try {
    const Tensor t = to_tensor_no_watch(a);
    if (t.rank() == 0) throw TypeError("len() of a 0-d tensor");
    return static_cast<Py_ssize_t>(t.shape()[0]);
  } catch (...) {
    set_python_error(std::current_exception());
    return -1;
  }
}

PyObject* mp_subscript(PyObject* a, PyObject* key) {
  return guarded([&] { return wrap(getitem(to_tensor(a), key)); });
}

// Iteration yields rows lazily, like TF's eager tensors: x[0], x[1], ... (differentiable reads).
PyObject* sq_item(PyObject* a, Py_ssize_t i) {
  return guarded([&] {
    py::object index = py::reinterpret_steal<py::object>(PyLong_FromSsize_t(i));
    return wrap(getitem(to_tensor(a), index));
  });
}

PyObject* tensor_iter(PyObject* a) {
  try {
    if (to_tensor_no_watch(a).rank() == 0) throw TypeError("iteration over a 0-d tensor");
  } catch (...) {
    set_python_error(std::current_exception());
    return nullptr;
  }
  return PySeqIter_New(a);
}

// ---- Tensor-only methods and properties ----

PyObject* get_shape(PyObject* self, void*) {
  const Shape& s = as_py(self)->impl->shape;
  PyObject* t = PyTuple_New(static_cast<Py_ssize_t>(s.size()));
  for (std::size_t i = 0; i < s.size(); ++i) PyTuple_SET_ITEM(t, i, PyLong_FromLongLong(s[i]));
  return t;
}
PyObject* get_dtype(PyObject* self, void*) {
  PyObject* d = g_dtype_objects[static_cast<int>(as_py(self)->impl->dtype)];
  Py_INCREF(d);
  return d;
}
PyObject* get_ndim(PyObject* self, void*) {
  return PyLong_FromSize_t(as_py(self)->impl->shape.size());
}
PyObject* get_size(PyObject* self, void*) { return PyLong_FromLongLong(as_py(self)->impl->size); }
PyObject* get_id(PyObject* self, void*) {
  return PyLong_FromUnsignedLongLong(as_py(self)->impl->id);
}

PyGetSetDef tensor_getset[] = {
    {"shape", get_shape, nullptr, "The shape as a tuple of ints.", nullptr},
    {"dtype", get_dtype, nullptr, "tg.float32 or tg.float64.", nullptr},
    {"ndim", get_ndim, nullptr, "The rank.", nullptr},
    {"size", get_size, nullptr, "The number of elements.", nullptr},
    {"id", get_id, nullptr, "The unique id tapes know this value by.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyObject* m_numpy(PyObject* self, PyObject*) {
  return guarded([&] { return py::object(to_numpy(Tensor(as_py(self)->impl))); });
}
PyObject* m_array(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* names[] = {"dtype", "copy", nullptr};
  PyObject *dtype = Py_None, *copy = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO", const_cast<char**>(names), &dtype, &copy))
    return nullptr;
  return guarded([&] {
    py::object arr = to_numpy(Tensor(as_py(self)->impl));
    if (dtype != Py_None) return py::object(arr.attr("astype")(py::handle(dtype)));
    if (copy != Py_None && PyObject_IsTrue(copy)) return py::object(arr.attr("copy")());
    return arr;
  });
}

// The docs start with the text signature, then the typed one (Note [Text signatures] in
// text_signatures.cpp).
PyMethodDef tensor_methods[] = {
    {"numpy", m_numpy, METH_NOARGS,
     "numpy($self, /)\n--\n\nnumpy(self) -> numpy.ndarray\n\n"
     "A read-only NumPy view sharing this tensor's memory (zero-copy)."},
    {"__array__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(m_array)),
     METH_VARARGS | METH_KEYWORDS,
     "__array__($self, /, dtype=None, copy=None)\n--\n\n"
     "__array__(self, dtype: typing.Any = None, copy: bool | None = None) -> numpy.ndarray\n\n"
     "NumPy conversion (a read-only view unless dtype/copy ask otherwise)."},
    {nullptr, nullptr, 0, nullptr}};

PyObject* tensor_new(PyTypeObject*, PyObject* args, PyObject* kwargs) {
  static const char* names[] = {"value", "dtype", nullptr};
  PyObject *value = nullptr, *dtype = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O", const_cast<char**>(names), &value, &dtype))
    return nullptr;
  return guarded([&] {
    const auto dt = to_dtype(dtype);
    Tensor t = to_tensor(value, dt);
    if (dt && t.dtype() != *dt) t = tg::cast(t, *dt);
    // A Tensor built from another Tensor is that value; from anything else it owns a copy.
    return wrap(t);
  });
}

// Buffer protocol: read-only, C-contiguous; shape and strides live in view->internal.
int tensor_getbuffer(PyObject* self, Py_buffer* view, int flags) {
  if (flags & PyBUF_WRITABLE) {
    PyErr_SetString(PyExc_BufferError, "tapegrad tensors are immutable: the buffer is read-only");
    return -1;
  }
  try {  // np.asarray reads the buffer before __array__: see Note [Traced values stay symbolic]
    check_untraced(Tensor(as_py(self)->impl), "reading the value (np.asarray, memoryview)");
  } catch (...) {
    set_python_error(std::current_exception());
    return -1;
  }
  const TensorImpl& t = *as_py(self)->impl;
  const Py_ssize_t rank = static_cast<Py_ssize_t>(t.shape.size());
  auto* dims = new Py_ssize_t[2 * rank + 1];
  Py_ssize_t stride = static_cast<Py_ssize_t>(itemsize(t.dtype));
  for (Py_ssize_t i = rank; i-- > 0;) {
    dims[i] = static_cast<Py_ssize_t>(t.shape[i]);
    dims[rank + i] = stride;
    stride *= dims[i];
  }
  view->buf = t.data;
  view->obj = self;
  Py_INCREF(self);
  view->len = static_cast<Py_ssize_t>(t.size) * static_cast<Py_ssize_t>(itemsize(t.dtype));
  view->readonly = 1;
  view->itemsize = static_cast<Py_ssize_t>(itemsize(t.dtype));
  static const char* const formats[] = {"f", "d", "i", "q", "?"};  // DType order
  view->format =
      (flags & PyBUF_FORMAT) ? const_cast<char*>(formats[static_cast<int>(t.dtype)]) : nullptr;
  view->ndim = static_cast<int>(rank);
  view->shape = dims;
  view->strides = dims + rank;
  view->suboffsets = nullptr;
  view->internal = dims;
  return 0;
}
void tensor_releasebuffer(PyObject*, Py_buffer* view) {
  delete[] static_cast<Py_ssize_t*>(view->internal);
}

}  // namespace

// ---- shared with convert.cpp / tensor.cpp ----

bool is_tensor(py::handle obj) { return Py_TYPE(obj.ptr()) == g_tensor_type; }

Tensor tensor_of(py::handle obj) { return Tensor(as_py(obj.ptr())->impl); }

bool TensorResult::check_(py::handle h) { return is_tensor(h); }

TensorResult wrap(const Tensor& t) {
  if (!t.defined()) return py::none();
  PyObject* o = g_tensor_type->tp_alloc(g_tensor_type, 0);
  if (!o) throw py::error_already_set();
  new (&as_py(o)->impl) TensorPtr(t.impl());
  as_py(o)->weakrefs = nullptr;
  return py::reinterpret_steal<py::object>(o);
}

void set_python_error(std::exception_ptr p) {
  try {
    std::rethrow_exception(p);
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const ValueError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const TypeError& e) {
    PyErr_SetString(PyExc_TypeError, e.what());
  } catch (const IndexError& e) {
    PyErr_SetString(PyExc_IndexError, e.what());
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc& e) {
    PyErr_SetString(PyExc_MemoryError, e.what());
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
  }
}

void install_operator_slots(PyTypeObject* type) {
  PyNumberMethods* nb = type->tp_as_number;
  nb->nb_add = nb_binary<tg::add>;
  nb->nb_subtract = nb_binary<tg::subtract>;
  nb->nb_multiply = nb_binary<tg::multiply>;
  nb->nb_true_divide = nb_binary<tg::divide>;
  nb->nb_matrix_multiply = nb_binary<matmul_plain>;
  nb->nb_power = nb_power;
  nb->nb_negative = nb_unary<tg::negative>;
  nb->nb_positive = nb_unary<identity>;
  nb->nb_absolute = nb_unary<tg::abs>;
  nb->nb_floor_divide = nb_binary<tg::floor_div>;
  nb->nb_remainder = nb_binary<tg::floor_mod>;
  nb->nb_and = nb_binary<tg::logical_and>;
  nb->nb_or = nb_binary<tg::logical_or>;
  nb->nb_xor = nb_binary<tg::logical_xor>;
  nb->nb_invert = nb_unary<tg::logical_not>;
  nb->nb_float = nb_float;
  nb->nb_int = nb_int;
  nb->nb_bool = nb_bool;
  type->tp_as_mapping->mp_length = mp_length;
  type->tp_as_mapping->mp_subscript = mp_subscript;
  type->tp_as_sequence->sq_length = mp_length;
  type->tp_as_sequence->sq_item = sq_item;
  type->tp_iter = tensor_iter;
  type->tp_richcompare = tensor_richcompare;
  type->tp_hash = PyBaseObject_Type.tp_hash;  // identity hashing, kept beside the richcompare
}

void bind_tensor_type(py::module_& m, const std::vector<py::object>& dtypes) {
  for (std::size_t i = 0; i < dtypes.size() && i < 5; ++i)
    g_dtype_objects[i] = dtypes[i].inc_ref().ptr();
  static PyMemberDef members[] = {
      {"__weaklistoffset__", T_PYSSIZET, offsetof(PyTensor, weakrefs), READONLY, nullptr},
      {nullptr, 0, 0, 0, nullptr}};
  auto fn = [](auto f) { return reinterpret_cast<void*>(f); };
  static PyType_Slot slots[] = {
      {Py_tp_dealloc, fn(tensor_dealloc)},
      {Py_tp_new, fn(tensor_new)},
      {Py_tp_getset, tensor_getset},
      {Py_tp_methods, tensor_methods},
      {Py_tp_members, members},
      {Py_tp_doc, const_cast<char*>("Tensor(value, dtype=None)\n--\n\n"
                                    "Tensor(value: tapegrad.types.TensorLike, dtype: "
                                    "tapegrad.types.DTypeLike = None)\n\n"
                                    "An immutable dense tensor (float32, float64, int32, int64 or "
                                    "bool; TensorFlow's eager Tensor).")},
      {Py_nb_add, fn(nb_binary<tg::add>)},
      {Py_nb_subtract, fn(nb_binary<tg::subtract>)},
      {Py_nb_multiply, fn(nb_binary<tg::multiply>)},
      {Py_nb_true_divide, fn(nb_binary<tg::divide>)},
      {Py_nb_matrix_multiply, fn(nb_binary<matmul_plain>)},
      {Py_nb_power, fn(nb_power)},
      {Py_nb_negative, fn(nb_unary<tg::negative>)},
      {Py_nb_positive, fn(nb_unary<identity>)},
      {Py_nb_absolute, fn(nb_unary<tg::abs>)},
      {Py_nb_floor_divide, fn(nb_binary<tg::floor_div>)},
      {Py_nb_remainder, fn(nb_binary<tg::floor_mod>)},
      {Py_nb_and, fn(nb_binary<tg::logical_and>)},
      {Py_nb_or, fn(nb_binary<tg::logical_or>)},
      {Py_nb_xor, fn(nb_binary<tg::logical_xor>)},
      {Py_nb_invert, fn(nb_unary<tg::logical_not>)},
      {Py_tp_richcompare, fn(tensor_richcompare)},
      {Py_tp_hash, fn(PyBaseObject_Type.tp_hash)},
      {Py_nb_float, fn(nb_float)},
      {Py_nb_int, fn(nb_int)},
      {Py_nb_bool, fn(nb_bool)},
      {Py_mp_length, fn(mp_length)},
      {Py_mp_subscript, fn(mp_subscript)},
      {Py_sq_length, fn(mp_length)},
      {Py_sq_item, fn(sq_item)},
      {Py_tp_iter, fn(tensor_iter)},
      {Py_bf_getbuffer, fn(tensor_getbuffer)},
      {Py_bf_releasebuffer, fn(tensor_releasebuffer)},
      {0, nullptr}};
  static PyType_Spec spec = {"tapegrad._core.Tensor", sizeof(PyTensor), 0, Py_TPFLAGS_DEFAULT,
                             slots};
  PyObject* type = PyType_FromSpec(&spec);
  if (!type) throw py::error_already_set();
  g_tensor_type = reinterpret_cast<PyTypeObject*>(type);
  m.add_object("Tensor", type);
}

}  // namespace tg::py_bind
