// Python <-> tg::Tensor conversion, shared by every binding file. The only place (with the other
// files in cpp/bindings/) that sees Python.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>

#include "tapegrad/autograd/tape.h"
#include "tapegrad/autograd/trace.h"
#include "tapegrad/tensor.h"
#include "tapegrad/variable.h"

namespace tg::py_bind {
namespace py = pybind11;

using TensorPtr = std::shared_ptr<TensorImpl>;

// Argument types that only name what a binding takes: pybind11 prints the name in the generated
// signatures (help(), __doc__, inspect.signature's annotations are left out: see
// text_signatures.cpp) and pybind11-stubgen copies it into python/tapegrad/_core.pyi, where
// python/tapegrad/types.py defines the tapegrad.types names. Loading one takes the handle as it
// is, as a py::handle parameter does (no conversion, no reference count): the binding converts
// it (to_tensor, to_shape, to_dtype, to_int64).
template <class Name>
struct NamedHandle : py::handle {
  using name_type = Name;
  NamedHandle() = default;
  NamedHandle(py::handle h) : py::handle(h) {}  // NOLINT(google-explicit-constructor)
};
#define TG_HANDLE_NAME(Type, text)                             \
  struct Type##Name {                                          \
    static constexpr auto name = py::detail::const_name(text); \
  };                                                           \
  using Type = NamedHandle<Type##Name>
// A Tensor, Variable, NumPy array or scalar, Python number or bool, or nested sequences of them.
TG_HANDLE_NAME(TensorLike, "tapegrad.types.TensorLike");
TG_HANDLE_NAME(OptionalTensorLike, "tapegrad.types.TensorLike | None");
TG_HANDLE_NAME(TensorLikeSequence, "collections.abc.Sequence[tapegrad.types.TensorLike]");
// An int or a sequence of ints (or an integer array or tensor): shapes, axes, permutations.
TG_HANDLE_NAME(ShapeLike, "tapegrad.types.ShapeLike");
TG_HANDLE_NAME(OptionalShapeLike, "tapegrad.types.ShapeLike | None");
// tg.float32, "float32", np.float32, np.dtype(...) or None.
TG_HANDLE_NAME(DTypeLike, "tapegrad.types.DTypeLike");
// An int or any object with __index__ (not a bool).
TG_HANDLE_NAME(IndexLike, "typing.SupportsIndex");
#undef TG_HANDLE_NAME

// A Tensor result (what wrap() returns): a py::object named tapegrad._core.Tensor instead of
// object in the signatures.
class TensorResult : public py::object {
 public:
  using py::object::object;
  TensorResult(py::object&& o) : py::object(std::move(o)) {}  // NOLINT(google-explicit-constructor)
  static bool check_(py::handle h);  // is_tensor, for pybind11's isinstance
};

// Any tensor-like Python object as a Tensor: a Tensor as is, a Variable read (so tapes watch it),
// a number, list or array converted. `like` is the dtype numbers and lists adopt (they are "weak",
// as in TensorFlow: 3 * x keeps x's float32); NumPy floating arrays keep their own dtype.
Tensor to_tensor(py::handle obj, std::optional<DType> like = std::nullopt);
// Both operands of a binary op, each adopting the other's dtype when it is a weak number or list.
std::pair<Tensor, Tensor> to_tensors(py::handle a, py::handle b);
// A dtype given as tg.float32, "float32", np.float32, np.dtype(...) or None.
std::optional<DType> to_dtype(py::handle obj);
// The NumPy dtype holding a tapegrad dtype's values.
py::dtype numpy_dtype(DType d);
// A Python int (or any object with __index__, not a bool) as int64: TypeError naming `what` for
// anything else, ValueError when it does not fit (pybind11's own caster raises RuntimeError then).
std::int64_t to_int64(py::handle obj, const char* what);
// Integer indices from a list, tuple or integer NumPy array (with their shape).
std::vector<std::int64_t> to_indices(py::handle obj, Shape* shape);
bool is_tensor(py::handle obj);    // exactly a tg Tensor (tensor_type.cpp)
Tensor tensor_of(py::handle obj);  // the Tensor inside a Python Tensor (is_tensor must hold)
// A tensor-like object's value without reading it on the tapes (len, float, bool).
Tensor to_tensor_no_watch(py::handle obj);
// x[key] with NumPy's basic and advanced indexing rules (tensor.cpp).
Tensor getitem(const Tensor& x, py::handle key);
// Sets the Python error for a C++ exception (tg errors -> ValueError/TypeError/IndexError).
void set_python_error(std::exception_ptr p);
// Runs f (returning py::object) and hands back a new reference, or nullptr with the error set.
template <class F>
PyObject* guarded(F&& f) noexcept {
  try {
    return f().release().ptr();
  } catch (...) {
    set_python_error(std::current_exception());
    return nullptr;
  }
}
// The number and mapping slots of Tensor, also installed on Variable (tensor_type.cpp).
void install_operator_slots(PyTypeObject* type);
bool is_variable(py::handle obj);
// The Variable held by a Python Variable (its holder), without the generic caster (is_variable
// must hold).
const Variable& variable_of(py::handle obj);

// A zero-copy read-only NumPy view of t (the array keeps the buffer alive).
py::array to_numpy(const Tensor& t);
// A shape as a Python tuple of ints (tensor.cpp).
py::tuple shape_tuple(const Shape& s);
// Wrap for returning to Python (undefined -> None).
TensorResult wrap(const Tensor& t);

// Kernels run without the GIL when the work is large enough for the release to pay for itself.
constexpr std::int64_t kReleaseGilWork = 1 << 14;
template <class F>
Tensor run_op(std::int64_t work, F&& f) {
  if (work < kReleaseGilWork) return f();
  py::gil_scoped_release release;
  return f();
}

}  // namespace tg::py_bind

namespace pybind11::detail {
// Every NamedHandle loads anything, as a py::handle parameter does.
template <class T>
struct named_handle_caster {
  PYBIND11_TYPE_CASTER(T, T::name_type::name);
  bool load(handle src, bool) {
    value = T(src);
    return static_cast<bool>(src);
  }
  static handle cast(const T& src, return_value_policy, handle) { return src.inc_ref(); }
};
// One full specialization per name (a partial one over NamedHandle<N> would be as specialized as
// pybind11's own caster for every py::handle subclass).
template <>
struct type_caster<tg::py_bind::TensorLike> : named_handle_caster<tg::py_bind::TensorLike> {};
template <>
struct type_caster<tg::py_bind::OptionalTensorLike>
    : named_handle_caster<tg::py_bind::OptionalTensorLike> {};
template <>
struct type_caster<tg::py_bind::TensorLikeSequence>
    : named_handle_caster<tg::py_bind::TensorLikeSequence> {};
template <>
struct type_caster<tg::py_bind::ShapeLike> : named_handle_caster<tg::py_bind::ShapeLike> {};
template <>
struct type_caster<tg::py_bind::OptionalShapeLike>
    : named_handle_caster<tg::py_bind::OptionalShapeLike> {};
template <>
struct type_caster<tg::py_bind::DTypeLike> : named_handle_caster<tg::py_bind::DTypeLike> {};
template <>
struct type_caster<tg::py_bind::IndexLike> : named_handle_caster<tg::py_bind::IndexLike> {};
template <>
struct handle_type_name<tg::py_bind::TensorResult> {
  static constexpr auto name = const_name("tapegrad._core.Tensor");
};
}  // namespace pybind11::detail
