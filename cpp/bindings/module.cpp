// The _core extension: module, exception translation, configuration.
#include "convert.h"
#include "tapegrad/errors.h"
#include "tapegrad/kernels.h"

namespace tg::py_bind {
void bind_tensor(py::module_& m);
void bind_ops(py::module_& m);
void bind_tape(py::module_& m);
void bind_optim(py::module_& m);
void bind_mlp(py::module_& m);
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
    }
  });
  tg::py_bind::bind_tensor(m);
  tg::py_bind::bind_ops(m);
  tg::py_bind::bind_tape(m);
  tg::py_bind::bind_optim(m);
  tg::py_bind::bind_mlp(m);
  m.def("isa", &tg::kernels::isa_name, "The instruction set the kernels dispatched to.");
  m.def("num_threads", &tg::kernels::num_threads);
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 0) throw tg::ValueError("set_num_threads: n must be >= 0 (0 = all cores), got " + std::to_string(n));
        tg::kernels::set_num_threads(n);
      },
      py::arg("n"), "Threads the kernels may use; 0 restores the default (all cores, like TF's 0).");
}
