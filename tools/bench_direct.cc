#include "tools/bench_direct.h"

#include <cstring>
#include <random>
#include <unordered_map>

#include "core/status.h"
#include "ops/onednn.h"

namespace gatefuse::cli {

using dnnl::memory;
using Tag = memory::format_tag;
using onednn::Engine;
using onednn::Stream;

namespace {

memory F32(const memory::dims& dims, Tag tag) {
  return memory(memory::desc(dims, memory::data_type::f32, tag), Engine());
}

void Fill(const memory& m, uint32_t seed, float scale) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  float* p = static_cast<float*>(m.get_data_handle());
  for (size_t i = 0; i < m.get_desc().get_size() / sizeof(float); ++i) p[i] = u(gen);
}

void Zero(const memory& m) { std::memset(m.get_data_handle(), 0, m.get_desc().get_size()); }

// `plain` reordered into a new memory of layout `desc` (once, at set-up).
memory Packed(const memory& plain, const memory::desc& desc) {
  memory out(desc, Engine());
  dnnl::reorder(plain, out).execute(Stream(), const_cast<memory&>(plain), out);
  Stream().wait();
  return out;
}

}  // namespace

struct DirectRnn::Impl {
  onednn::RnnDims dims;
  bool training = false;
  dnnl::primitive forward, backward;
  std::unordered_map<int, memory> forward_args, backward_args;
  std::vector<memory> diff_weights;  // zeroed before each backward (it accumulates)
};

DirectRnn::DirectRnn(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DirectRnn::~DirectRnn() = default;

absl::StatusOr<std::unique_ptr<DirectRnn>> DirectRnn::Create(const onednn::RnnDims& d,
                                                             bool training) {
  GF_ASSIGN_OR_RETURN(onednn::RnnPrimitiveDescs pds, onednn::MakeRnnPrimitiveDescs(d, training));
  auto impl = std::make_unique<Impl>();
  impl->dims = d;
  impl->training = training;
  const int64_t G = onednn::NumGates(d.cell);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.H));
  GF_RETURN_IF_ERROR(onednn::Call("direct RNN set-up", [&] {
    memory x = F32({d.T, d.B, d.I}, Tag::tnc), y = F32({d.T, d.B, d.H}, Tag::tnc);
    memory h0 = F32({1, 1, d.B, d.H}, Tag::ldnc), hT = F32({1, 1, d.B, d.H}, Tag::ldnc);
    memory c0 = F32({1, 1, d.B, d.H}, Tag::ldnc), cT = F32({1, 1, d.B, d.H}, Tag::ldnc);
    memory wl = F32({1, 1, d.I, G, d.H}, Tag::ldigo), wi = F32({1, 1, d.H, G, d.H}, Tag::ldigo);
    memory bias = F32({1, 1, onednn::NumBiasSlots(d.cell), d.H}, Tag::ldgo);
    memory peep = F32({1, 1, 3, d.H}, Tag::ldgo);
    Fill(x, 1, 1);
    Fill(wl, 2, scale);
    Fill(wi, 3, scale);
    Fill(bias, 4, scale);
    Fill(peep, 5, scale);
    Zero(h0);
    Zero(c0);
    const bool has_c = onednn::HasCellState(d.cell), has_p = onednn::HasPeepholes(d.cell);
    auto& fa = impl->forward_args;
    fa = {{DNNL_ARG_SRC_LAYER, x},
          {DNNL_ARG_SRC_ITER, h0},
          {DNNL_ARG_WEIGHTS_LAYER, Packed(wl, pds.forward.weights_layer_desc())},
          {DNNL_ARG_WEIGHTS_ITER, Packed(wi, pds.forward.weights_iter_desc())},
          {DNNL_ARG_BIAS, bias},
          {DNNL_ARG_DST_LAYER, y},
          {DNNL_ARG_DST_ITER, hT}};
    if (has_c) {
      fa.insert({DNNL_ARG_SRC_ITER_C, c0});
      fa.insert({DNNL_ARG_DST_ITER_C, cT});
    }
    if (has_p) fa.insert({DNNL_ARG_WEIGHTS_PEEPHOLE, peep});
    impl->forward = dnnl::primitive(pds.forward);
    if (!training) return;
    memory ws(pds.forward.workspace_desc(), Engine());
    fa.insert({DNNL_ARG_WORKSPACE, ws});
    auto& ba = impl->backward_args;
    ba = fa;
    ba[DNNL_ARG_WEIGHTS_LAYER] = Packed(wl, pds.backward.weights_layer_desc());
    ba[DNNL_ARG_WEIGHTS_ITER] = Packed(wi, pds.backward.weights_iter_desc());
    memory dy = F32({d.T, d.B, d.H}, Tag::tnc), dhT = F32({1, 1, d.B, d.H}, Tag::ldnc);
    Fill(dy, 6, 1);
    Zero(dhT);
    ba.insert({DNNL_ARG_DIFF_DST_LAYER, dy});
    ba.insert({DNNL_ARG_DIFF_DST_ITER, dhT});
    ba.insert({DNNL_ARG_DIFF_SRC_LAYER, F32({d.T, d.B, d.I}, Tag::tnc)});
    ba.insert({DNNL_ARG_DIFF_SRC_ITER, F32({1, 1, d.B, d.H}, Tag::ldnc)});
    memory dwl(pds.backward.diff_weights_layer_desc(), Engine());
    memory dwi(pds.backward.diff_weights_iter_desc(), Engine());
    memory dbias = F32({1, 1, onednn::NumBiasSlots(d.cell), d.H}, Tag::ldgo);
    ba.insert({DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl});
    ba.insert({DNNL_ARG_DIFF_WEIGHTS_ITER, dwi});
    ba.insert({DNNL_ARG_DIFF_BIAS, dbias});
    impl->diff_weights = {dwl, dwi, dbias};
    if (has_c) {
      memory dcT = F32({1, 1, d.B, d.H}, Tag::ldnc);
      Zero(dcT);
      ba.insert({DNNL_ARG_DIFF_DST_ITER_C, dcT});
      ba.insert({DNNL_ARG_DIFF_SRC_ITER_C, F32({1, 1, d.B, d.H}, Tag::ldnc)});
    }
    if (has_p) {
      memory dpeep = F32({1, 1, 3, d.H}, Tag::ldgo);
      ba.insert({DNNL_ARG_DIFF_WEIGHTS_PEEPHOLE, dpeep});
      impl->diff_weights.push_back(dpeep);
    }
    impl->backward = dnnl::primitive(pds.backward);
  }));
  return std::unique_ptr<DirectRnn>(new DirectRnn(std::move(impl)));
}

absl::Status DirectRnn::Run() {
  return onednn::Call("direct RNN", [&] {
    impl_->forward.execute(Stream(), impl_->forward_args);
    if (impl_->training) {
      for (const memory& m : impl_->diff_weights) Zero(m);
      impl_->backward.execute(Stream(), impl_->backward_args);
    }
    Stream().wait();
  });
}

double DirectRnn::Flops() const {
  const onednn::RnnDims& d = impl_->dims;
  const double forward = 2.0 * d.T * d.B * onednn::NumGates(d.cell) * d.H * (d.I + d.H);
  return impl_->training ? 3 * forward : forward;
}

struct DirectGemms::Buffers {
  std::vector<float> a, b, c;
};

DirectGemms::~DirectGemms() = default;

absl::StatusOr<std::unique_ptr<DirectGemms>> DirectGemms::Create(std::vector<GemmSpec> gemms) {
  auto out = std::make_unique<DirectGemms>();
  uint32_t seed = 1;
  for (const GemmSpec& g : gemms) {
    auto buf = std::make_unique<Buffers>();
    buf->a.resize(g.m * g.k);
    buf->b.resize(g.k * g.n);
    buf->c.resize(g.m * g.n);
    std::mt19937 gen(seed++);
    std::uniform_real_distribution<float> u(-1, 1);
    for (float& v : buf->a) v = u(gen);
    for (float& v : buf->b) v = u(gen);
    out->buffers_.push_back(std::move(buf));
  }
  out->gemms_ = std::move(gemms);
  return out;
}

absl::Status DirectGemms::Run() {
  for (size_t i = 0; i < gemms_.size(); ++i) {
    const GemmSpec& g = gemms_[i];
    Buffers& b = *buffers_[i];
    for (int64_t r = 0; r < g.count; ++r) {
      GF_RETURN_IF_ERROR(onednn::MatMulF32(b.a.data(), b.b.data(), b.c.data(), g.m, g.k, g.n,
                                           false, false));
    }
  }
  return absl::OkStatus();
}

double DirectGemms::Flops() const {
  double f = 0;
  for (const GemmSpec& g : gemms_) f += 2.0 * g.m * g.k * g.n * g.count;
  return f;
}

}  // namespace gatefuse::cli
