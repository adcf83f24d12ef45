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

void set_variable_type(py::handle type) { g_variable_type = reinterpret_cast<PyTypeObject*>(type.ptr()); }
bool is_variable(py::handle obj) { return Py_TYPE(obj.ptr()) == g_variable_type; }

std::optional<DType> to_dtype(py::handle obj) {
  if (obj.is_none()) return std::nullopt;
  if (py::isinstance<DType>(obj)) return obj.cast<DType>();
  py::dtype dt;
  try {
    dt = py::dtype::from_args(py::reinterpret_borrow<py::object>(obj));
  } catch (py::error_already_set&) {
    throw TypeError("unsupported dtype " + std::string(py::str(obj)) + " (use float32 or float64)");
  }
  if (dt.is(py::dtype::of<float>()) || dt.equal(py::dtype::of<float>())) return DType::Float32;
  if (dt.equal(py::dtype::of<double>())) return DType::Float64;
  throw TypeError("unsupported dtype " + std::string(py::str(dt)) +
                  ": tapegrad tensors are float32 or float64");
}

namespace {

// Tensor from a NumPy array. Floating arrays keep their dtype unless `as` says otherwise; integer
// and bool arrays become `as` (float32 by default). Always one copy: a tensor is immutable, and a
// NumPy array its owner can still write to would break Note [Saved values never change].
Tensor from_array(const py::array& arr, std::optional<DType> as) {
  const char kind = arr.dtype().kind();
  DType dtype;
  if (kind == 'f') {
    const auto sz = arr.dtype().itemsize();
    dtype = as ? *as : (sz == 8 ? DType::Float64 : DType::Float32);
  } else if (kind == 'i' || kind == 'u' || kind == 'b') {
    dtype = as ? *as : DType::Float32;
  } else {
    throw TypeError("unsupported dtype " + std::string(py::str(arr.dtype())) +
                    ": tapegrad tensors hold float32 or float64 (complex, object and string "
                    "arrays have no tapegrad equivalent)");
  }
  Shape shape(arr.shape(), arr.shape() + arr.ndim());
  Tensor t = Tensor::empty(dtype, shape);
  const py::dtype target = dtype == DType::Float32 ? py::dtype::of<float>() : py::dtype::of<double>();
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
  // Python numbers are weak (they take `like`); NumPy scalars (np.float64 subclasses float) are
  // handled as arrays below and keep their dtype unless `like` is given.
  if (PyFloat_CheckExact(obj.ptr()) || PyLong_Check(obj.ptr()) || PyBool_Check(obj.ptr())) {
    const double v = PyFloat_CheckExact(obj.ptr()) ? PyFloat_AS_DOUBLE(obj.ptr()) : obj.cast<double>();
    return Tensor::scalar(like.value_or(DType::Float32), v);
  }
  // NumPy's float scalars (a metric's np.float32 result, `x * np.float64(2)`) without the
  // np.asarray round trip below, which costs ~3 us; their value converts to double exactly.
  static PyTypeObject* const np_float32 = numpy_type("float32");
  static PyTypeObject* const np_float64 = numpy_type("float64");
  if (Py_TYPE(obj.ptr()) == np_float32 || Py_TYPE(obj.ptr()) == np_float64) {
    const double v = PyFloat_AsDouble(obj.ptr());
    if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
    const DType own = Py_TYPE(obj.ptr()) == np_float32 ? DType::Float32 : DType::Float64;
    return Tensor::scalar(like.value_or(own), v);
  }
  if (py::isinstance<py::array>(obj)) return from_array(py::reinterpret_borrow<py::array>(obj), std::nullopt);
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    // Nested lists may hold tensors: let NumPy build the array through __array__.
    py::array arr = py::module_::import("numpy").attr("asarray")(obj);
    const char kind = arr.dtype().kind();
    if (kind == 'f' || kind == 'i' || kind == 'u' || kind == 'b')
      return from_array(arr, like.value_or(DType::Float32));
    return from_array(arr, std::nullopt);  // raises the dtype TypeError
  }
  if (py::isinstance<py::float_>(obj) || py::hasattr(obj, "__array__") || py::hasattr(obj, "__float__")) {
    // NumPy scalars (np.float64(1.0)), objects implementing __array__.
    py::array arr = py::module_::import("numpy").attr("asarray")(obj);
    if (arr.ndim() == 0 && arr.dtype().kind() == 'f' && like) return from_array(arr, like);
    return from_array(arr, std::nullopt);
  }
  throw TypeError("cannot convert an object of type " +
                  std::string(py::str(py::type::of(obj).attr("__name__"))) + " to a tapegrad Tensor");
}

namespace {
// Numbers and Python lists are weak: they take the dtype of a tensor operand.
bool is_weak(py::handle obj) {
  return PyFloat_CheckExact(obj.ptr()) || PyLong_Check(obj.ptr()) || py::isinstance<py::list>(obj) ||
         py::isinstance<py::tuple>(obj);
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

std::vector<std::int64_t> to_indices(py::handle obj, Shape* shape) {
  py::array arr = py::module_::import("numpy").attr("asarray")(obj);
  const char kind = arr.dtype().kind();
  if (arr.size() == 0 && kind == 'f') arr = arr.attr("astype")("int64");
  else if (kind != 'i' && kind != 'u')
    throw IndexError("indices must be integers, got an array of dtype " + std::string(py::str(arr.dtype())));
  // Unsigned values past int64 would wrap to (valid) negative indices: out of bounds instead.
  if (kind == 'u' && arr.size() > 0 &&
      arr.attr("max")().cast<unsigned long long>() > static_cast<unsigned long long>(INT64_MAX))
    throw IndexError("index " + std::string(py::str(arr.attr("max")())) + " is out of bounds");
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ints(arr);
  if (shape) shape->assign(ints.shape(), ints.shape() + ints.ndim());
  return std::vector<std::int64_t>(ints.data(), ints.data() + ints.size());
}

py::array to_numpy(const Tensor& t) {
  check_untraced(t, "reading the value (.numpy(), np.asarray)");
  // The capsule owns a reference to the tensor's impl, which owns the buffer.
  auto* keep = new TensorPtr(t.impl());
  py::capsule owner(keep, [](void* p) { delete static_cast<TensorPtr*>(p); });
  const py::dtype dt = t.dtype() == DType::Float32 ? py::dtype::of<float>() : py::dtype::of<double>();
  py::array arr(dt, t.shape(), const_cast<void*>(t.raw()), owner);
  py::detail::array_proxy(arr.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return arr;
}

Tensor to_tensor_no_watch(py::handle obj) {
  if (is_variable(obj)) return variable_of(obj)->value;
  return to_tensor(obj);
}

}  // namespace tg::py_bind
