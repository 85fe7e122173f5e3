// Field reflection for the classes bound with fields (see bindings.h).
#include <cmath>
#include <string>

#include "bindings.h"

namespace py = pybind11;

namespace avemotion::bindings {
namespace {

// Public instance properties of self's class, in definition order.
py::list FieldNames(py::handle self) {
  py::list names;
  const py::dict members = py::reinterpret_borrow<py::dict>(
      py::handle(reinterpret_cast<PyObject*>(Py_TYPE(self.ptr()))).attr("__dict__").attr("copy")());
  for (auto item : members) {
    const std::string name = py::str(item.first);
    if (name[0] != '_' && PyObject_TypeCheck(item.second.ptr(), &PyProperty_Type)) names.append(name);
  }
  return names;
}

bool ValuesEqual(py::handle a, py::handle b) {
  if (PyFloat_Check(a.ptr()) && PyFloat_Check(b.ptr())) {
    const double x = PyFloat_AS_DOUBLE(a.ptr()), y = PyFloat_AS_DOUBLE(b.ptr());
    return x == y || (std::isnan(x) && std::isnan(y));
  }
  if (py::hasattr(a, "to_dict") && Py_TYPE(a.ptr()) == Py_TYPE(b.ptr())) return FieldsEqual(a, b);
  return a.equal(b);
}

}  // namespace

py::dict FieldsDict(py::handle self) {
  py::dict d;
  for (auto name : FieldNames(self)) {
    py::object v = self.attr(name);
    d[name] = py::hasattr(v, "to_dict") ? v.attr("to_dict")() : v;
  }
  return d;
}

bool FieldsEqual(py::handle a, py::handle b) {
  if (Py_TYPE(a.ptr()) != Py_TYPE(b.ptr())) return false;
  for (auto name : FieldNames(a)) {
    if (!ValuesEqual(a.attr(name), b.attr(name))) return false;
  }
  return true;
}

std::string FieldsRepr(py::handle self) {
  std::string s = py::str(py::handle(reinterpret_cast<PyObject*>(Py_TYPE(self.ptr()))).attr("__name__"));
  s += "(";
  bool first = true;
  for (auto name : FieldNames(self)) {
    if (!first) s += ", ";
    first = false;
    s += std::string(py::str(name)) + "=" + std::string(py::repr(self.attr(name)));
  }
  return s + ")";
}

}  // namespace avemotion::bindings
