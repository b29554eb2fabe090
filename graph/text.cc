#include "graph/text.h"

#include <cctype>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/status.h"
#include "graph/verifier.h"

namespace gatefuse {
namespace {

// Print order: inputs in id order, then every other live node in stable
// topological order (ids order if the graph is cyclic). Numbers count non-inputs.
struct Numbering {
  std::vector<NodeId> order;
  std::vector<int> number;  // by id; -1 for inputs and dead nodes
};

Numbering Number(const Graph& g) {
  Numbering n;
  n.number.assign(g.num_node_slots(), -1);
  for (NodeId id : g.Inputs()) n.order.push_back(id);
  auto stable = g.StableOrder();
  std::vector<NodeId> rest;
  if (stable.ok()) {
    rest = *stable;
  } else {
    for (NodeId id = 0; id < g.num_node_slots(); ++id) rest.push_back(id);
  }
  int k = 0;
  for (NodeId id : rest) {
    if (g.node(id).dead || g.node(id).op == kInputOp) continue;
    n.order.push_back(id);
    n.number[id] = k++;
  }
  return n;
}

std::string Label(const Graph& g, const Numbering& n, NodeId id) {
  if (id < 0 || id >= g.num_node_slots()) return "%?";
  if (g.node(id).op == kInputOp) return g.node(id).name;
  return absl::StrCat("%", n.number[id]);
}

std::string Ref(const Graph& g, const Numbering& n, ValueRef v) {
  std::string s = Label(g, n, v.node);
  if (v.index != 0) absl::StrAppend(&s, ".", v.index);
  return s;
}

std::string FormatDouble(double v) {
  std::string s = absl::StrFormat("%.17g", v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // "n": inf, nan
  return s;
}

std::string FormatAttr(const AttrValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return absl::StrCat(*i);
  if (auto* d = std::get_if<double>(&v)) return FormatDouble(*d);
  if (auto* l = std::get_if<std::vector<int64_t>>(&v)) {
    return absl::StrCat("[", absl::StrJoin(*l, ","), "]");
  }
  std::string s = "\"";
  for (char c : std::get<std::string>(v)) {
    if (c == '"' || c == '\\') s += '\\';
    s += c;
  }
  return s + "\"";
}

// " {name=value, ...}", or "" for no attributes.
std::string FormatAttrs(const Attrs& a) {
  if (a.values().empty()) return "";
  std::vector<std::string> attrs;
  for (const auto& [name, v] : a.values()) attrs.push_back(absl::StrCat(name, "=", FormatAttr(v)));
  return absl::StrCat(" {", absl::StrJoin(attrs, ", "), "}");
}

std::string FormatSpecs(const std::vector<TensorSpec>& specs) {
  std::vector<std::string> parts;
  for (const TensorSpec& s : specs) parts.push_back(s.ToString());
  return absl::StrJoin(parts, ", ");
}

}  // namespace

std::string NodeLabel(const Graph& g, NodeId id) { return Label(g, Number(g), id); }

std::string PrintGraph(const Graph& g) {
  const Numbering n = Number(g);
  std::string out = absl::StrCat("graph ", g.name(), "\n");
  for (NodeId id : n.order) {
    const NodeData& d = g.node(id);
    if (d.op == kInputOp) {
      // An input's attributes (a param's initial value) follow its type.
      absl::StrAppend(&out, RoleName(d.role), " ", d.name, " : ", d.outputs[0].ToString(),
                      FormatAttrs(d.attrs), "\n");
      continue;
    }
    absl::StrAppend(&out, "%", n.number[id], " = ", d.op);
    if (d.op == kConstantOp) {
      std::vector<std::string> values;
      for (double v : d.value.ToVector()) values.push_back(FormatDouble(v));
      absl::StrAppend(&out, " [", absl::StrJoin(values, ", "), "]");
    } else {
      std::vector<std::string> args;
      for (const ValueRef& v : d.inputs) args.push_back(Ref(g, n, v));
      absl::StrAppend(&out, "(", absl::StrJoin(args, ", "), ")", FormatAttrs(d.attrs));
    }
    absl::StrAppend(&out, " : ", FormatSpecs(d.outputs));
    if (d.placement != Placement::kStep) absl::StrAppend(&out, " @", PlacementName(d.placement));
    out += "\n";
  }
  for (const GraphOutput& o : g.outputs()) {
    absl::StrAppend(&out, "output ", o.name, " = ", Ref(g, n, o.value), "\n");
  }
  return out;
}

namespace {

// A cursor over one line.
class Cursor {
 public:
  Cursor(absl::string_view text, int line) : s_(text), line_(line) {}

  void SkipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= s_.size();
  }
  bool Peek(char c) {
    SkipSpace();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  bool Consume(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }
  absl::Status Expect(char c) {
    if (Consume(c)) return absl::OkStatus();
    return Error(absl::StrCat("expected '", std::string(1, c), "'"));
  }
  // Identifier characters: letters, digits, '_', and '%' / '.' inside value names.
  std::string Word() {
    SkipSpace();
    const size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) ||
                                s_[pos_] == '_' || s_[pos_] == '%' || s_[pos_] == '.' ||
                                s_[pos_] == '-' || s_[pos_] == '+')) {
      ++pos_;
    }
    return std::string(s_.substr(start, pos_ - start));
  }
  absl::StatusOr<std::string> QuotedString() {
    GF_RETURN_IF_ERROR(Expect('"'));
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
      out += s_[pos_++];
    }
    if (pos_ >= s_.size()) return Error("unterminated string");
    ++pos_;
    return out;
  }
  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line_, ": ", what, " at column ", pos_ + 1));
  }

 private:
  absl::string_view s_;
  size_t pos_ = 0;
  int line_;
};

absl::StatusOr<TensorSpec> ParseSpec(Cursor& c) {
  std::string word = c.Word();
  // Word() stops at '['.
  absl::StatusOr<DType> dtype = ParseDType(word);
  if (!dtype.ok()) return c.Error(absl::StrCat("expected a type such as f32[2,3], got '", word, "'"));
  GF_RETURN_IF_ERROR(c.Expect('['));
  std::vector<int64_t> dims;
  while (!c.Consume(']')) {
    if (!dims.empty()) GF_RETURN_IF_ERROR(c.Expect(','));
    int64_t d;
    const std::string w = c.Word();
    if (!absl::SimpleAtoi(w, &d) || d < 0) return c.Error(absl::StrCat("bad dimension '", w, "'"));
    dims.push_back(d);
  }
  return TensorSpec{Shape(dims), *dtype};
}

absl::StatusOr<AttrValue> ParseAttrValue(Cursor& c) {
  if (c.Peek('"')) {
    GF_ASSIGN_OR_RETURN(std::string s, c.QuotedString());
    return AttrValue(s);
  }
  if (c.Consume('[')) {
    std::vector<int64_t> list;
    while (!c.Consume(']')) {
      if (!list.empty()) GF_RETURN_IF_ERROR(c.Expect(','));
      int64_t v;
      const std::string w = c.Word();
      if (!absl::SimpleAtoi(w, &v)) return c.Error(absl::StrCat("bad integer '", w, "'"));
      list.push_back(v);
    }
    return AttrValue(list);
  }
  const std::string w = c.Word();
  int64_t i;
  if (w.find_first_of(".eEn") == std::string::npos && absl::SimpleAtoi(w, &i)) return AttrValue(i);
  double d;
  if (absl::SimpleAtod(w, &d)) return AttrValue(d);
  return c.Error(absl::StrCat("bad attribute value '", w, "'"));
}

// "{name=value, ...}" after '{' was consumed.
absl::Status ParseAttrs(Cursor& c, Attrs& attrs) {
  bool first = true;
  while (!c.Consume('}')) {
    if (!first) GF_RETURN_IF_ERROR(c.Expect(','));
    first = false;
    const std::string name = c.Word();
    if (name.empty()) return c.Error("expected an attribute name");
    GF_RETURN_IF_ERROR(c.Expect('='));
    GF_ASSIGN_OR_RETURN(AttrValue v, ParseAttrValue(c));
    attrs.Set(name, std::move(v));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Graph> ParseGraph(const std::string& text) {
  Graph g;
  std::map<std::string, NodeId> names;  // "x", "%3" -> id
  std::set<std::string> output_names;
  bool have_header = false;
  int line_no = 0;
  auto resolve = [&](Cursor& c, const std::string& ref) -> absl::StatusOr<ValueRef> {
    std::string base = ref;
    int index = 0;
    if (ref.size() > 1 && ref[0] == '%') {
      const size_t dot = ref.find('.');
      if (dot != std::string::npos) {
        base = ref.substr(0, dot);
        if (!absl::SimpleAtoi(ref.substr(dot + 1), &index) || index < 0) {
          return c.Error(absl::StrCat("bad value '", ref, "'"));
        }
      }
    }
    auto it = names.find(base);
    if (it == names.end()) return c.Error(absl::StrCat("unknown value '", ref, "'"));
    if (index >= static_cast<int>(g.node(it->second).outputs.size())) {
      return c.Error(absl::StrCat("'", base, "' has no output ", index));
    }
    return ValueRef{it->second, index};
  };

  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = raw.substr(0, raw.find('#'));
    Cursor c(line, line_no);
    if (c.AtEnd()) continue;
    const std::string head = c.Word();
    if (!have_header) {
      if (head != "graph") return c.Error("expected 'graph <name>'");
      g.set_name(c.Word());
      if (g.name().empty() || !c.AtEnd()) return c.Error("expected 'graph <name>'");
      have_header = true;
      continue;
    }
    if (head == "input" || head == "state" || head == "param") {
      const std::string name = c.Word();
      if (name.empty() || name[0] == '%') return c.Error("expected an input name");
      if (names.count(name)) return c.Error(absl::StrCat("'", name, "' is defined twice"));
      GF_RETURN_IF_ERROR(c.Expect(':'));
      GF_ASSIGN_OR_RETURN(TensorSpec spec, ParseSpec(c));
      Attrs attrs;
      if (c.Consume('{')) GF_RETURN_IF_ERROR(ParseAttrs(c, attrs));
      if (!c.AtEnd()) return c.Error("unexpected text after the type");
      names[name] = g.AddInput(name, *ParseRole(head), spec);
      g.mutable_node(names[name]).attrs = std::move(attrs);
      continue;
    }
    if (head == "output") {
      const std::string name = c.Word();
      if (name.empty()) return c.Error("expected an output name");
      if (!output_names.insert(name).second) {
        return c.Error(absl::StrCat("output '", name, "' is defined twice"));
      }
      GF_RETURN_IF_ERROR(c.Expect('='));
      GF_ASSIGN_OR_RETURN(ValueRef v, resolve(c, c.Word()));
      if (!c.AtEnd()) return c.Error("unexpected text after the output");
      g.AddOutput(name, v);
      continue;
    }
    if (head.empty() || head[0] != '%') {
      return c.Error(absl::StrCat("expected 'input', 'state', 'param', 'output' or '%N = ...', got '",
                                  head, "'"));
    }
    if (names.count(head)) return c.Error(absl::StrCat("'", head, "' is defined twice"));
    GF_RETURN_IF_ERROR(c.Expect('='));
    NodeData d;
    d.op = c.Word();
    if (d.op.empty()) return c.Error("expected an op name");
    std::vector<double> constant;
    if (d.op == kConstantOp) {
      GF_RETURN_IF_ERROR(c.Expect('['));
      while (!c.Consume(']')) {
        if (!constant.empty()) GF_RETURN_IF_ERROR(c.Expect(','));
        double v;
        const std::string w = c.Word();
        if (!absl::SimpleAtod(w, &v)) return c.Error(absl::StrCat("bad number '", w, "'"));
        constant.push_back(v);
      }
    } else {
      GF_RETURN_IF_ERROR(c.Expect('('));
      while (!c.Consume(')')) {
        if (!d.inputs.empty()) GF_RETURN_IF_ERROR(c.Expect(','));
        GF_ASSIGN_OR_RETURN(ValueRef v, resolve(c, c.Word()));
        d.inputs.push_back(v);
      }
      if (c.Consume('{')) GF_RETURN_IF_ERROR(ParseAttrs(c, d.attrs));
    }
    GF_RETURN_IF_ERROR(c.Expect(':'));
    do {
      GF_ASSIGN_OR_RETURN(TensorSpec spec, ParseSpec(c));
      d.outputs.push_back(spec);
    } while (c.Consume(','));
    if (c.Consume('@')) {
      const std::string p = c.Word();
      if (p == "invariant") {
        d.placement = Placement::kInvariant;
      } else if (p == "hoisted") {
        d.placement = Placement::kTimeBatched;
      } else {
        return c.Error(absl::StrCat("unknown placement '@", p, "'"));
      }
    }
    if (!c.AtEnd()) return c.Error("unexpected text at the end of the node");
    if (d.op == kConstantOp) {
      if (d.outputs.size() != 1) return c.Error("a constant has one type");
      absl::StatusOr<Tensor> value =
          Tensor::FromValues(d.outputs[0].shape, constant, d.outputs[0].dtype);
      if (!value.ok()) return c.Error(std::string(value.status().message()));
      d.value = *value;
    }
    const NodeId id = g.AddNodeUnchecked(std::move(d));
    // Checked here rather than by the final Verify, so the error has its line.
    if (absl::Status s = VerifyNode(g, id); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": ", s.message()));
    }
    names[head] = id;
  }
  if (!have_header) return absl::InvalidArgumentError("line 1: expected 'graph <name>'");
  GF_RETURN_IF_ERROR(Verify(g));
  return g;
}

std::string ToDot(const Graph& g) {
  const Numbering n = Number(g);
  std::string out = absl::StrCat("digraph \"", g.name(), "\" {\n  rankdir=TB;\n");
  for (NodeId id : n.order) {
    const NodeData& d = g.node(id);
    std::string label, attrs;
    if (d.op == kInputOp) {
      label = absl::StrCat(RoleName(d.role), " ", d.name, "\\n", d.outputs[0].ToString());
      attrs = "shape=ellipse";
    } else {
      label = absl::StrCat(Label(g, n, id), " ", d.op, "\\n", FormatSpecs(d.outputs));
      attrs = "shape=box";
      if (d.placement != Placement::kStep) {
        absl::StrAppend(&label, "\\n@", PlacementName(d.placement));
        attrs += ", style=filled, fillcolor=lightgrey";
      }
    }
    absl::StrAppend(&out, "  n", id, " [label=\"", label, "\", ", attrs, "];\n");
    for (size_t k = 0; k < d.inputs.size(); ++k) {
      absl::StrAppend(&out, "  n", d.inputs[k].node, " -> n", id, ";\n");
    }
  }
  for (size_t k = 0; k < g.outputs().size(); ++k) {
    const GraphOutput& o = g.outputs()[k];
    absl::StrAppend(&out, "  out", k, " [label=\"output ", o.name, "\", shape=doubleoctagon];\n",
                    "  n", o.value.node, " -> out", k, ";\n");
  }
  return out + "}\n";
}

}  // namespace gatefuse
