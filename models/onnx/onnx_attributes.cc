#include "models/onnx/onnx_attributes.h"

namespace gatefuse {

void AddAttribute(onnx::NodeProto* node, const std::string& name, int64_t i) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(i);
}

void AddAttribute(onnx::NodeProto* node, const std::string& name, float f) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(f);
}

void AddAttribute(onnx::NodeProto* node, const std::string& name, const std::string& s) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(s);
}

void AddAttribute(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& is) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t i : is) a->add_ints(i);
}

void AddAttribute(onnx::NodeProto* node, const std::string& name, const std::vector<float>& fs) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOATS);
  for (float f : fs) a->add_floats(f);
}

void AddAttribute(onnx::NodeProto* node, const std::string& name,
                  const std::vector<std::string>& ss) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRINGS);
  for (const std::string& s : ss) a->add_strings(s);
}

}  // namespace gatefuse
