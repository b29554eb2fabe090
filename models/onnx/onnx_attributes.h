// Attributes onto ONNX NodeProtos, one overload per attribute type, for the code
// that writes ONNX files (the exporter, the test-case generator).
#ifndef GATEFUSE_MODELS_ONNX_ONNX_ATTRIBUTES_H_
#define GATEFUSE_MODELS_ONNX_ONNX_ATTRIBUTES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"

namespace gatefuse {

void AddAttribute(onnx::NodeProto* node, const std::string& name, int64_t i);
void AddAttribute(onnx::NodeProto* node, const std::string& name, float f);
void AddAttribute(onnx::NodeProto* node, const std::string& name, const std::string& s);
void AddAttribute(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& is);
void AddAttribute(onnx::NodeProto* node, const std::string& name, const std::vector<float>& fs);
void AddAttribute(onnx::NodeProto* node, const std::string& name,
                  const std::vector<std::string>& ss);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_ONNX_ONNX_ATTRIBUTES_H_
