// The _core extension: module, exception translation, configuration.
#include "convert.h"
#include "tapegrad/allocator.h"
#include "tapegrad/autograd/program.h"
#include "tapegrad/errors.h"
#include "tapegrad/kernels.h"

namespace tg::py_bind {
void bind_tensor(py::module_& m);
void bind_ops(py::module_& m);
void bind_integer_ops(py::module_& m);
void bind_tape(py::module_& m);
void bind_optim(py::module_& m);
void bind_function(py::module_& m);
void bind_custom_gradient(py::module_& m);
void bind_forward(py::module_& m);
void bind_random(py::module_& m);
void add_text_signatures(py::module_& m);
}  // namespace tg::py_bind

PYBIND11_MODULE(_core, m) {
  namespace py = pybind11;
  m.doc() = "tapegrad's C++ engine: tensors, ops, GradientTape.";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const tg::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const tg::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const tg::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const tg::NonFiniteError& e) {
      PyErr_SetString(PyExc_FloatingPointError, e.what());
    }
  });
  tg::py_bind::bind_tensor(m);
  tg::py_bind::bind_ops(m);
  tg::py_bind::bind_integer_ops(m);
  tg::py_bind::bind_tape(m);
  tg::py_bind::bind_optim(m);
  tg::py_bind::bind_function(m);
  tg::py_bind::bind_custom_gradient(m);
  tg::py_bind::bind_forward(m);
  tg::py_bind::bind_random(m);
  m.def("isa", &tg::kernels::isa_name, "The instruction set the kernels dispatched to.");
  m.def("num_threads", &tg::kernels::num_threads,
        "Threads the kernels use (TAPEGRAD_NUM_THREADS at import, or set_num_threads).");
  m.def(
      "set_num_threads",
      [](py::handle n_) {
        const std::int64_t n = tg::py_bind::to_int64(n_, "set_num_threads: n");
        if (n < 1 || n > tg::kernels::kMaxThreads)
          throw tg::ValueError("set_num_threads: n must be between 1 and " +
                               std::to_string(tg::kernels::kMaxThreads) + ", got " +
                               std::to_string(n));
        tg::kernels::set_num_threads(static_cast<int>(n));
      },
      py::arg("n"), "Threads the kernels may use, 1 to 1024 (docs/limits.md).");
  m.def(
      "alloc_stats",
      [] {
        const auto s = tg::alloc::stats();
        py::dict d;
        d["cached_bytes"] = s.cached_bytes;
        d["cached_blocks"] = s.cached_blocks;
        d["cache_limit"] = s.cache_limit;
        d["hits"] = s.hits;
        d["misses"] = s.misses;
        return d;
      },
      "The tensor-storage cache: bytes and blocks held, its bound, hits and misses.");
  m.def(
      "set_cache_limit",
      [](py::handle bytes_) {
        const std::int64_t bytes = tg::py_bind::to_int64(bytes_, "set_cache_limit: bytes");
        if (bytes < 0)
          throw tg::ValueError("set_cache_limit: bytes must be >= 0, got " + std::to_string(bytes));
        return tg::alloc::set_cache_limit(static_cast<std::size_t>(bytes));
      },
      py::arg("bytes"), "Bounds the bytes the storage cache keeps; returns the previous bound.");
  m.def("release_cached_memory", &tg::alloc::release_cached,
        "Returns every cached (free) storage buffer to the system.");
  tg::kernels::num_threads();           // TAPEGRAD_NUM_THREADS is read at import
  tg::py_bind::add_text_signatures(m);  // last: every binding is defined
}
