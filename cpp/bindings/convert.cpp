#include "convert.h"

#include <climits>
#include <cstdint>
#include <cstring>

#include "tapegrad/errors.h"

namespace tg::py_bind {

namespace {
PyTypeObject* g_variable_type = nullptr;
}  // namespace

const Variable& variable_of(py::handle obj) {
  auto* inst = reinterpret_cast<py::detail::instance*>(obj.ptr());
  return inst->get_value_and_holder().holder<Variable>();
}

void set_variable_type(py::handle type) {
  g_variable_type = reinterpret_cast<PyTypeObject*>(type.ptr());
}
bool is_variable(py::handle obj) { return Py_TYPE(obj.ptr()) == g_variable_type; }

py::dtype numpy_dtype(DType d) {
  switch (d) {
    case DType::Float32: return py::dtype::of<float>();
    case DType::Float64: return py::dtype::of<double>();
    case DType::Int32: return py::dtype::of<std::int32_t>();
    case DType::Int64: return py::dtype::of<std::int64_t>();
    case DType::Bool: return py::dtype("bool");
  }
  return py::dtype::of<float>();
}

std::optional<DType> to_dtype(py::handle obj) {
  if (obj.is_none()) return std::nullopt;
  if (py::isinstance<DType>(obj)) return obj.cast<DType>();
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyBool_Type)) return DType::Bool;
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyLong_Type)) return DType::Int32;
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyFloat_Type)) return DType::Float32;
  py::dtype dt;
  try {
    dt = py::dtype::from_args(py::reinterpret_borrow<py::object>(obj));
  } catch (py::error_already_set&) {
    throw TypeError("unsupported dtype " + std::string(py::str(obj)) +
                    " (use float32, float64, int32, int64 or bool)");
  }
  for (DType d : {DType::Float32, DType::Float64, DType::Int32, DType::Int64, DType::Bool})
    if (dt.equal(numpy_dtype(d))) return d;
  throw TypeError("unsupported dtype " + std::string(py::str(dt)) +
                  ": tapegrad tensors are float32, float64, int32, int64 or bool");
}

namespace {

// The tapegrad dtype a NumPy array keeps: floats keep their width (float16 widens to float32),
// narrow integers widen to int32, uint32 and wider to int64, bool stays bool.
DType natural_dtype(const py::array& arr) {
  const char kind = arr.dtype().kind();
  const auto size = arr.dtype().itemsize();
  if (kind == 'f') return size == 8 ? DType::Float64 : DType::Float32;
  if (kind == 'b') return DType::Bool;
  if (kind == 'i') return size <= 4 ? DType::Int32 : DType::Int64;
  if (kind == 'u') return size <= 2 ? DType::Int32 : DType::Int64;
  throw TypeError("unsupported dtype " + std::string(py::str(arr.dtype())) +
                  ": tapegrad tensors hold float32, float64, int32, int64 or bool (complex, object "
                  "and string arrays have no tapegrad equivalent)");
}

// A weak operand (a Python number or list) beside a tensor of dtype `like`: it takes like's dtype
// unless its own kind is wider, as NumPy's rules for Python scalars say (an int tensor times 0.5
// is float64, a bool tensor plus 1 is int64).
DType weak_dtype(char kind, DType like) {
  if (kind == 'f' && !is_floating(like)) return DType::Float64;
  if ((kind == 'i' || kind == 'u') && like == DType::Bool) return DType::Int64;
  return like;
}

// Tensor from a NumPy array, as `dtype`. Always one copy: a tensor is immutable, and a NumPy array
// its owner can still write to would break Note [Saved values never change].
Tensor from_array(const py::array& arr, DType dtype) {
  natural_dtype(arr);  // rejects complex, object and string arrays
  Shape shape(arr.shape(), arr.shape() + arr.ndim());
  Tensor t = Tensor::empty(dtype, shape);
  const py::dtype target = numpy_dtype(dtype);
  if (arr.dtype().equal(target) && (arr.flags() & py::array::c_style)) {
    if (t.nbytes()) std::memcpy(t.raw_mutable(), arr.data(), t.nbytes());
  } else {
    // NumPy does the strided/typed conversion straight into our buffer.
    py::capsule no_owner(t.raw_mutable(), [](void*) {});  // t outlives this transient view
    py::array dst(target, shape, t.raw_mutable(), no_owner);
    py::module_::import("numpy").attr("copyto")(dst, arr, py::arg("casting") = "unsafe");
  }
  return t;
}

// A Python int as a 0-d tensor of an integer dtype, exactly (no round trip through double).
Tensor int_scalar(py::handle obj, DType dtype) {
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  const bool fits32 = v >= INT32_MIN && v <= INT32_MAX;
  if (overflow || (dtype == DType::Int32 && !fits32))
    throw py::value_error("Python integer " + std::string(py::str(obj)) + " is out of bounds for " +
                          dtype_name(dtype));
  Tensor t = Tensor::empty(dtype, {});
  if (dtype == DType::Int32)
    *t.mutable_data<std::int32_t>() = static_cast<std::int32_t>(v);
  else
    *t.mutable_data<std::int64_t>() = static_cast<std::int64_t>(v);
  return t;
}

}  // namespace

namespace {
// A NumPy scalar type, looked up once (the reference is kept for the process's lifetime).
PyTypeObject* numpy_type(const char* name) {
  py::object type = py::module_::import("numpy").attr(name);
  return reinterpret_cast<PyTypeObject*>(type.release().ptr());
}
}  // namespace

Tensor to_tensor(py::handle obj, std::optional<DType> like) {
  if (is_tensor(obj)) return tensor_of(obj);
  if (is_variable(obj)) return read_variable(variable_of(obj));
  // Python numbers are weak (they take `like`, widened by weak_dtype); alone, a float is float32,
  // an int int32 (int64 when it does not fit) and a bool bool, as in TensorFlow. NumPy scalars
  // (np.float64 subclasses float) are handled as arrays below and keep their dtype.
  if (PyBool_Check(obj.ptr()))
    return Tensor::scalar(like.value_or(DType::Bool), obj.ptr() == Py_True);
  if (PyLong_Check(obj.ptr())) {
    const DType d = like ? weak_dtype('i', *like) : DType::Int32;
    if (is_floating(d) || d == DType::Bool) return Tensor::scalar(d, obj.cast<double>());
    if (!like) {
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
      if (!overflow && (v < INT32_MIN || v > INT32_MAX)) return int_scalar(obj, DType::Int64);
    }
    return int_scalar(obj, d);
  }
  if (PyFloat_CheckExact(obj.ptr()))
    return Tensor::scalar(like ? weak_dtype('f', *like) : DType::Float32,
                          PyFloat_AS_DOUBLE(obj.ptr()));
  // NumPy's float scalars (a metric's np.float32 result, `x * np.float64(2)`) without the
  // np.asarray round trip below, which costs more than the op itself for small tensors
  // (docs/performance.md); their value converts to double exactly.
  static PyTypeObject* const np_float32 = numpy_type("float32");
  static PyTypeObject* const np_float64 = numpy_type("float64");
  if (Py_TYPE(obj.ptr()) == np_float32 || Py_TYPE(obj.ptr()) == np_float64) {
    const double v = PyFloat_AsDouble(obj.ptr());
    if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
    const DType own = Py_TYPE(obj.ptr()) == np_float32 ? DType::Float32 : DType::Float64;
    return Tensor::scalar(like && is_floating(*like) ? *like : own, v);
  }
  if (py::isinstance<py::array>(obj)) {
    const auto arr = py::reinterpret_borrow<py::array>(obj);
    return from_array(arr, natural_dtype(arr));
  }
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    // Nested lists may hold tensors: let NumPy build the array through __array__. Like Python
    // numbers, lists are weak beside a tensor; alone, floats are float32 and ints int32 (int64
    // when a value does not fit), as in TensorFlow.
    py::array arr = py::module_::import("numpy").attr("asarray")(obj);
    const char kind = arr.dtype().kind();
    const DType natural = natural_dtype(arr);
    if (like) return from_array(arr, weak_dtype(kind, *like));
    if (natural == DType::Float64 && kind == 'f') return from_array(arr, DType::Float32);
    if (natural == DType::Int64 && arr.size() > 0) {
      const auto lo = py::cast<long long>(arr.attr("min")()),
                 hi = py::cast<long long>(arr.attr("max")());
      const bool fits = lo >= INT32_MIN && hi <= INT32_MAX;
      return from_array(arr, fits ? DType::Int32 : DType::Int64);
    }
    return from_array(arr, natural == DType::Int64 ? DType::Int32 : natural);
  }
  if (py::isinstance<py::float_>(obj) || py::hasattr(obj, "__array__") ||
      py::hasattr(obj, "__float__") || py::hasattr(obj, "__index__")) {
    // NumPy scalars (np.float64(1.0), np.int64(3)), objects implementing __array__.
    py::array arr = py::module_::import("numpy").attr("asarray")(obj);
    const DType natural = natural_dtype(arr);
    if (arr.ndim() == 0 && like && arr.dtype().kind() == 'f' && is_floating(*like))
      return from_array(arr, *like);
    return from_array(arr, natural);
  }
  throw TypeError("cannot convert an object of type " +
                  std::string(py::str(py::type::of(obj).attr("__name__"))) +
                  " to a tapegrad Tensor");
}

namespace {
// Numbers and Python lists are weak: they take the dtype of a tensor operand.
bool is_weak(py::handle obj) {
  return PyFloat_CheckExact(obj.ptr()) || PyLong_Check(obj.ptr()) ||
         py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj);
}
}  // namespace

std::pair<Tensor, Tensor> to_tensors(py::handle a, py::handle b) {
  if (is_weak(a) && !is_weak(b)) {
    Tensor tb = to_tensor(b);
    return {to_tensor(a, tb.dtype()), tb};
  }
  Tensor ta = to_tensor(a);
  return {ta, to_tensor(b, ta.dtype())};
}

std::int64_t to_int64(py::handle obj, const char* what) {
  if (PyBool_Check(obj.ptr()) || !PyIndex_Check(obj.ptr()))
    throw TypeError(std::string(what) + " must be an integer, got " +
                    std::string(py::str(py::type::of(obj).attr("__name__"))));
  const auto i = py::reinterpret_steal<py::int_>(PyNumber_Index(obj.ptr()));
  if (!i) throw py::error_already_set();
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  if (overflow) {
    // Spelled out only when short: str() of a huge int is itself refused by Python.
    const auto bits = py::cast<std::int64_t>(i.attr("bit_length")());
    throw ValueError(
        std::string(what) + " " +
        (bits <= 256 ? std::string(py::str(i)) : "of " + std::to_string(bits) + " bits") +
        " does not fit in a 64-bit integer");
  }
  return v;
}

std::vector<std::int64_t> to_indices(py::handle obj, Shape* shape) {
  py::array arr = py::module_::import("numpy").attr("asarray")(obj);
  const char kind = arr.dtype().kind();
  if (arr.size() == 0 && kind == 'f')
    arr = arr.attr("astype")("int64");
  else if (kind != 'i' && kind != 'u')
    throw IndexError("indices must be integers, got an array of dtype " +
                     std::string(py::str(arr.dtype())));
  // The int64 conversion below would wrap unsigned indices above 2**63 - 1 to negative ones.
  if (kind == 'u' && arr.dtype().itemsize() == 8 && arr.size() > 0 &&
      py::cast<std::uint64_t>(arr.attr("max")()) > static_cast<std::uint64_t>(INT64_MAX))
    throw IndexError("index " + std::string(py::str(arr.attr("max")())) +
                     " is out of the 64-bit range");
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ints(arr);
  if (shape) shape->assign(ints.shape(), ints.shape() + ints.ndim());
  return std::vector<std::int64_t>(ints.data(), ints.data() + ints.size());
}

py::array to_numpy(const Tensor& t) {
  check_untraced(t, "reading the value (.numpy(), np.asarray)");
  // The capsule owns a reference to the tensor's impl, which owns the buffer.
  auto* keep = new TensorPtr(t.impl());
  py::capsule owner(keep, [](void* p) { delete static_cast<TensorPtr*>(p); });
  py::array arr(numpy_dtype(t.dtype()), t.shape(), const_cast<void*>(t.raw()), owner);
  py::detail::array_proxy(arr.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return arr;
}

Tensor to_tensor_no_watch(py::handle obj) {
  if (is_variable(obj)) return variable_of(obj)->value;
  return to_tensor(obj);
}

}  // namespace tg::py_bind
