// One Bind<Concept>() per bound class (sherpa-onnx style: bind_<concept>.cc); module.cc calls each in
// turn. The C++ core (cpp/src, the avemotion_core library) knows nothing of Python.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

namespace avemotion::bindings {

// "(2, 3)", "(5,)": an array's shape as error messages print it.
inline std::string ShapeStr(const pybind11::array& a) {
  std::string s = "(";
  for (pybind11::ssize_t i = 0; i < a.ndim(); ++i) {
    s += std::to_string(a.shape(i));
    if (a.ndim() == 1 || i + 1 < a.ndim()) s += ",";
    if (i + 1 < a.ndim()) s += " ";
  }
  return s + ")";
}

// Classes bound with fields (def_readwrite/def_readonly/def_property*): their public properties in
// definition order, so each field is written once, in its binding. fields.cc.
//   FieldsDict: {name: value}, nested bound classes with a to_dict() as dicts.
//   FieldsEqual: same type and equal fields (NaN equals NaN: stats hold NaN before a stream starts).
//   FieldsRepr: "Name(field=value, ...)".
pybind11::dict FieldsDict(pybind11::handle self);
bool FieldsEqual(pybind11::handle a, pybind11::handle b);
std::string FieldsRepr(pybind11::handle self);
// Adds to_dict, __eq__ and __repr__ built from the fields to a bound class.
template <typename Class>
void DefFieldMethods(Class& c) {
  c.def("to_dict", [](pybind11::handle self) { return FieldsDict(self); },
        "The fields as a dict (nested stats as dicts).");
  c.def("__eq__", [](pybind11::handle a, pybind11::handle b) { return FieldsEqual(a, b); });
  c.def("__repr__", [](pybind11::handle self) { return FieldsRepr(self); });
  c.def("__hash__", [](pybind11::handle self) -> pybind11::ssize_t {
    throw pybind11::type_error("unhashable type: '" +
                               std::string(pybind11::str(pybind11::type::of(self).attr("__name__"))) + "'");
  });
}

void BindNormalize(pybind11::module_& m);
void BindRunningStats(pybind11::module_& m);
void BindFrameRing(pybind11::module_& m);
void BindAVSyncOptions(pybind11::module_& m);
void BindStreamStats(pybind11::module_& m);
void BindSyncStats(pybind11::module_& m);
void BindWindowBatch(pybind11::module_& m);
void BindWindow(pybind11::module_& m);
void BindAVSync(pybind11::module_& m);
void BindOrt(pybind11::module_& m);
void BindSegmentScan(pybind11::module_& m);
void BindTesting(pybind11::module_& m);  // cpp/testing: test hooks only

}  // namespace avemotion::bindings
