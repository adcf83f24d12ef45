// Note [Text signatures]
// CPython gives a builtin function a __text_signature__, which inspect.signature and help() read,
// only when its docstring starts "name(params)\n--\n\n" (no annotations; defaults are literals).
// pybind11 writes "name(x: T, ...) -> R" there instead, so inspect.signature(tg.matmul) used to
// fail. After every binding is defined, add_text_signatures rewrites each pybind11 function's
// docstring to
//     name(x, y, axis=-1)
//     --
//
//     name(x: tapegrad.types.TensorLike, ...) -> tapegrad._core.Tensor
//
//     The binding's own doc.
// The typed line stays first in __doc__: help() shows it and pybind11-stubgen reads the types of
// python/tapegrad/_core.pyi from it. The functions themselves are untouched (no wrapper, no extra
// call): only the text their PyMethodDef points at changes. The hand-written types (Tensor in
// tensor_type.cpp, GradientTape in tape.cpp) write the same form in their method tables.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "convert.h"

namespace tg::py_bind {

namespace {

// The index of the bracket closing the one at `open`, skipping quoted strings; npos if none.
std::size_t closing_bracket(const std::string& s, std::size_t open) {
  int depth = 0;
  char quote = 0;
  for (std::size_t i = open; i < s.size(); ++i) {
    const char c = s[i];
    if (quote) {
      if (c == '\\')
        ++i;
      else if (c == quote)
        quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}') {
      if (--depth == 0) return i;
    }
  }
  return std::string::npos;
}

// Splits "a: int, b: list[int, str] = [1, 2]" at the commas outside brackets and quotes.
std::vector<std::string> split_params(const std::string& params) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const char c = params[i];
    if (quote) {
      if (c == '\\' && i + 1 < params.size())
        cur += params[i++];
      else if (c == quote)
        quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) out.push_back(cur);
  for (auto& p : out) {
    const auto b = p.find_first_not_of(' '), e = p.find_last_not_of(' ');
    p = b == std::string::npos ? "" : p.substr(b, e - b + 1);
  }
  return out;
}

// A default inspect can evaluate: None, True, False, a number or a quoted string.
bool is_literal(const std::string& v) {
  if (v == "None" || v == "True" || v == "False") return true;
  if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"') && v.back() == v.front())
    return true;
  if (v.empty()) return false;
  char* end = nullptr;
  std::strtod(v.c_str(), &end);
  return end == v.c_str() + v.size();
}

// "x: T = 1" -> "x=1"; "*args: T" -> "*args"; "/" and "*" as they are.
std::string untyped_param(const std::string& p, const std::string& where) {
  const std::size_t colon = p.find(':'), eq = p.find(" = ");
  std::string name = p.substr(0, std::min(colon, eq));
  if (eq == std::string::npos) return name;
  const std::string value = p.substr(eq + 3);
  if (!is_literal(value))
    throw std::logic_error(where + ": the default of " + name + " (" + value +
                           ") cannot appear in a text signature; give the py::arg a None, "
                           "number or string default (cpp/bindings/text_signatures.cpp)");
  return name + "=" + value;
}

// The "--" form of one pybind11 function's docstring (Note [Text signatures]).
std::string with_text_signature(const std::string& name, const std::string& doc,
                                const std::string& where) {
  const std::string overloaded = name + "(*args, **kwargs)\nOverloaded function.";
  if (doc.rfind(overloaded, 0) == 0)
    return name + "(*args, **kwargs)\n--\n\n" + doc.substr(name.size() + 18);
  if (doc.rfind(name + "(", 0) != 0)
    throw std::logic_error(where + ": the docstring does not start with pybind11's signature");
  const std::size_t close = closing_bracket(doc, name.size());
  if (close == std::string::npos)
    throw std::logic_error(where + ": unbalanced brackets in pybind11's signature");
  std::string params;
  for (const std::string& p : split_params(doc.substr(name.size() + 1, close - name.size() - 1)))
    params += (params.empty() ? "" : ", ") + untyped_param(p, where);
  return name + "(" + params + ")\n--\n\n" + doc;
}

// Rewrites the docstring of `fn` when it is a pybind11 function (instance and static methods
// unwrapped first); anything else is left alone.
void rewrite(py::handle fn, const std::string& where) {
  PyObject* f = fn.ptr();
  if (PyInstanceMethod_Check(f)) f = PyInstanceMethod_GET_FUNCTION(f);
  if (PyObject_TypeCheck(f, &PyStaticMethod_Type)) {
    py::object inner = py::reinterpret_borrow<py::object>(f).attr("__func__");
    return rewrite(inner, where);
  }
  if (!PyCFunction_Check(f) || !py::detail::is_function_record_PyObject(PyCFunction_GET_SELF(f)))
    return;
  auto* func = reinterpret_cast<PyCFunctionObject*>(f);
  const char* doc = PYBIND11_PYCFUNCTION_GET_DOC(func);
  if (!doc) return;
  const std::string name = func->m_ml->ml_name;
  const std::string text = with_text_signature(name, doc, where + name);
  std::free(const_cast<char*>(doc));  // pybind11 allocated it with strdup and frees it so
  PYBIND11_PYCFUNCTION_SET_DOC(func, PYBIND11_COMPAT_STRDUP(text.c_str()));
}

void rewrite_namespace(py::handle owner, const std::string& prefix, bool is_module) {
  const py::dict members(owner.attr("__dict__"));  // a copy: a type's is a mappingproxy
  for (auto [key, value] : members) {
    const std::string where = prefix + std::string(py::str(key));
    if (PyModule_Check(value.ptr())) {
      // Submodules (ops, optim, ...) only, not modules imported into ours.
      const std::string sub = py::str(value.attr("__name__"));
      if (sub.rfind(prefix, 0) == 0) rewrite_namespace(value, where + ".", true);
    } else if (PyType_Check(value.ptr())) {
      if (is_module && py::detail::get_type_info(reinterpret_cast<PyTypeObject*>(value.ptr())))
        rewrite_namespace(value, where + ".", false);
    } else {
      rewrite(value, prefix);
    }
  }
}

}  // namespace

void add_text_signatures(py::module_& m) {
  rewrite_namespace(m, std::string(py::str(m.attr("__name__"))) + ".", true);
}

}  // namespace tg::py_bind
