#include "models/io/tensor_proto.h"

#include <cstring>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

TEST(TensorProtoTest, NamedTensorsRoundTripBitIdentical) {
  const std::map<std::string, Tensor> tensors = {
      {"m/W", Tensor::Uniform({3, 4}, DType::kF32, 5, -1, 1)},
      {"b", Tensor::Uniform({4}, DType::kF64, 6, -1, 1)},
      {"t", Tensor::Scalar(12, DType::kI64)}};
  google::protobuf::RepeatedPtrField<TensorProto> protos;
  ASSERT_TRUE(TensorsToProtos(tensors, &protos).ok());
  ASSERT_EQ(protos.size(), 3);
  EXPECT_EQ(protos.Get(0).name(), "b");  // in name order
  absl::StatusOr<std::map<std::string, Tensor>> back = TensorsFromProtos(protos, "state");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const Tensor& got = back->at(name);
    ASSERT_EQ(got.dtype(), t.dtype()) << name;
    ASSERT_EQ(got.shape(), t.shape()) << name;
    EXPECT_EQ(std::memcmp(got.Contiguous().raw_data(), t.Contiguous().raw_data(),
                          t.num_elements() * SizeOf(t.dtype())),
              0)
        << name;
  }
}

TEST(TensorProtoTest, BadListsAreRefusedNamingTheTensor) {
  google::protobuf::RepeatedPtrField<TensorProto> protos;
  ASSERT_TRUE(TensorsToProtos({{"W", Tensor::Zeros({2, 3}, DType::kF32)}}, &protos).ok());
  *protos.Add() = protos.Get(0);
  EXPECT_THAT(TensorsFromProtos(protos, "optimizer state").status().message(),
              HasSubstr("optimizer state 'W': the name is used twice"));
  protos.Mutable(1)->clear_name();
  EXPECT_THAT(CheckNamedTensors(protos, "parameter").message(),
              HasSubstr("parameter 1: has no name"));
  protos.RemoveLast();
  protos.Mutable(0)->mutable_data()->resize(20);
  EXPECT_THAT(CheckNamedTensors(protos, "parameter").message(),
              HasSubstr("parameter 'W': f32[2,3] needs 24 bytes of data, has 20"));
}

TEST(TensorProtoTest, ParameterHelpersKeepNamesAndGradientFlags) {
  ParamMap params;
  params["b"] = Var::Leaf(Tensor::Full({2}, DType::kF32, 0.5), true, "b");
  params["a"] = Var::Leaf(Tensor::Uniform({2, 2}, DType::kF64, 1, -1, 1), true, "a");
  ModelFile m;
  ASSERT_TRUE(SetParameters(params, m).ok());
  ASSERT_EQ(m.parameters_size(), 2);
  EXPECT_EQ(m.parameters(0).name(), "a");  // sorted
  absl::StatusOr<ParamMap> vars = ParameterVars(m);
  ASSERT_TRUE(vars.ok()) << vars.status();
  EXPECT_TRUE(vars->at("a").requires_grad());
  EXPECT_EQ(vars->at("a").name(), "a");
  EXPECT_FALSE(ParameterVars(m, false)->at("b").requires_grad());
  // Replacing, not appending.
  ASSERT_TRUE(
      SetParameters(std::map<std::string, Tensor>{{"c", Tensor::Zeros({1}, DType::kF32)}}, m).ok());
  EXPECT_EQ(m.parameters_size(), 1);
  EXPECT_EQ(SetParameters(std::map<std::string, Tensor>{{"u", Tensor()}}, m).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      SetParameters(std::map<std::string, Tensor>{{"", Tensor::Zeros({1}, DType::kF32)}}, m).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m.parameters_size(), 1);  // a failed call changes nothing
  ParamMap undefined;
  undefined["x"] = Var();
  EXPECT_THAT(SetParameters(undefined, m).message(), HasSubstr("parameter 'x' is undefined"));
}

}  // namespace
}  // namespace gatefuse
