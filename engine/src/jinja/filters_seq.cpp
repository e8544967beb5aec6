// Sequence filters: join, list, first/last, sort, unique, dictsort, items, min/max, sum, map,
// select/reject(attr), batch, slice, reverse. map/select/reject/items/unique return
// generators (iterable, no len(), not JSON serializable), as in Jinja.
#include <algorithm>

#include "builtins.h"
#include "evaluator.h"
#include "filters_impl.h"
#include "py_str.h"
#include "str_ops.h"

namespace rs::engine::jinja {

namespace {

std::vector<Value> iterate(Evaluator& ev, const Value& v) {
  std::vector<Value> items = py_iterate(v);
  ev.step(static_cast<int64_t>(items.size()));
  return items;
}

// jinja2.filters.make_attrgetter: dotted parts, integer parts index, via getitem.
class AttrGetter {
 public:
  AttrGetter(const Value& attribute, Value fallback) : fallback_(std::move(fallback)) {
    if (attribute.is_int()) {
      parts_.push_back(attribute);
      return;
    }
    std::string a = attribute.is_string() ? attribute.str() : py_str(attribute);
    for (auto& part : py_split(a, std::string("."), -1)) {
      bool digits = !part.empty() && std::all_of(part.begin(), part.end(),
                                                 [](char c) { return c >= '0' && c <= '9'; });
      parts_.push_back(digits && part.size() < 18 ? Value::integer(std::stoll(part))
                                                  : Value::string(part));
    }
  }
  Value operator()(Evaluator& ev, Value item) const {
    for (const auto& p : parts_) {
      item = ev.get_item(item, p);
      if (!fallback_.is_none() && item.is_undefined()) item = fallback_;
    }
    return item;
  }

 private:
  std::vector<Value> parts_;
  Value fallback_;
};

Value ignore_case(const Value& v) {
  return v.is_string() ? Value::string(py_lower(v.str())) : v;
}

struct Keyed {
  Value key;
  Value item;
};

std::vector<Keyed> keyed(Evaluator& ev, std::vector<Value> items, const Value& attribute,
                         bool case_sensitive) {
  std::vector<Keyed> out;
  out.reserve(items.size());
  std::optional<AttrGetter> get;
  if (!attribute.is_none()) get.emplace(attribute, Value::none());
  for (auto& it : items) {
    Value k = get ? (*get)(ev, it) : it;
    if (!case_sensitive) k = ignore_case(k);
    out.push_back({std::move(k), std::move(it)});
  }
  return out;
}

bool flag(const ArgBinder& b, size_t i) {
  return b.has(i) && b.get(i).truthy();
}

Value min_max(Evaluator& ev, const Value& v, CallArgs& args, bool want_max) {
  ArgBinder b(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  std::vector<Keyed> ks = keyed(ev, iterate(ev, v), b.get_or(1, Value::none()), flag(b, 0));
  if (ks.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  for (size_t i = 1; i < ks.size(); ++i) {
    int c = py_compare(ks[i].key, ks[best].key);
    if (want_max ? c > 0 : c < 0) best = i;
  }
  return ks[best].item;
}

// select / reject / selectattr / rejectattr
Value select_impl(Evaluator& ev, const Value& v, CallArgs& args, bool lookup_attr, bool keep) {
  if (!v.truthy()) return Value::generator({});  // Jinja: `if value:` before anything else
  std::optional<AttrGetter> get;
  size_t off = 0;
  if (lookup_attr) {
    if (args.pos.empty()) fail("Missing parameter for attribute name");
    get.emplace(args.pos[0], Value::none());
    off = 1;
  }
  std::string test_name;
  CallArgs test_args;
  bool has_test = args.pos.size() > off;
  if (has_test) {
    const Value& n = args.pos[off];
    test_name = n.is_string() ? n.str() : py_str(n);
    test_args.pos.assign(args.pos.begin() + static_cast<std::ptrdiff_t>(off + 1), args.pos.end());
    test_args.kw = args.kw;
  }
  std::vector<Value> out;
  for (auto& item : iterate(ev, v)) {
    Value x = get ? (*get)(ev, item) : item;
    CallArgs a = test_args;
    bool ok = has_test ? ev.apply_test(test_name, x, a) : x.truthy();
    if (ok == keep) out.push_back(std::move(item));
  }
  return Value::generator(std::move(out));
}

Value chunks(Evaluator& ev, const Value& v, size_t size_or_count, const Value& fill,
             bool by_count) {
  std::vector<Value> items = iterate(ev, v);
  std::vector<Value> out;
  if (!by_count) {  // batch
    for (size_t i = 0; i < items.size(); i += size_or_count) {
      std::vector<Value> row(
          items.begin() + static_cast<std::ptrdiff_t>(i),
          items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), i + size_or_count)));
      while (!fill.is_none() && row.size() < size_or_count) row.push_back(fill);
      out.push_back(Value::list(std::move(row)));
    }
    return Value::generator(std::move(out));
  }
  size_t per = items.size() / size_or_count, extra = items.size() % size_or_count, offset = 0;
  for (size_t s = 0; s < size_or_count; ++s) {
    size_t start = offset + s * per;
    if (s < extra) offset += 1;
    size_t end = offset + (s + 1) * per;
    std::vector<Value> row(items.begin() + static_cast<std::ptrdiff_t>(start),
                           items.begin() + static_cast<std::ptrdiff_t>(end));
    if (!fill.is_none() && s >= extra) row.push_back(fill);
    out.push_back(Value::list(std::move(row)));
  }
  return Value::generator(std::move(out));
}

size_t positive_count(const Value& v, const char* fn) {
  if (!v.is_int() || v.as_int() <= 0 || v.as_int() > (1 << 20))
    fail(std::string(fn) + ": count must be a positive integer");
  return static_cast<size_t>(v.as_int());
}

}  // namespace

Value f_list(Evaluator& ev, const Value& v, CallArgs&) {
  return Value::list(iterate(ev, v));
}

Value f_first(Evaluator& ev, const Value& v, CallArgs&) {
  std::vector<Value> items = iterate(ev, v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Evaluator& ev, const Value& v, CallArgs&) {
  if (v.kind() == Kind::kGenerator) fail("'generator' object is not reversible");
  std::vector<Value> items = iterate(ev, v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_join(Evaluator& ev, const Value& v, CallArgs& args) {
  ArgBinder b("join", args, {"d", "attribute"});
  std::string sep = b.has(0) ? py_str(b.get(0)) : "";
  std::optional<AttrGetter> get;
  if (b.has(1) && !b.get(1).is_none()) get.emplace(b.get(1), Value::none());
  std::string out;
  bool first = true;
  for (auto& item : iterate(ev, v)) {
    if (!first) out += sep;
    first = false;
    Value x = get ? (*get)(ev, item) : item;
    out += x.is_string() ? x.str() : py_str(x);
    check_string_size(out.size());
  }
  return Value::string(std::move(out));
}

Value f_reverse(Evaluator& ev, const Value& v, CallArgs&) {
  if (v.is_string()) return slice_value(v, Value::none(), Value::none(), Value::integer(-1));
  std::vector<Value> items = iterate(ev, v);
  std::reverse(items.begin(), items.end());
  return Value::generator(std::move(items));
}

Value f_sort(Evaluator& ev, const Value& v, CallArgs& args) {
  ArgBinder b("sort", args, {"reverse", "case_sensitive", "attribute"});
  bool reverse = flag(b, 0);
  std::vector<Keyed> ks = keyed(ev, iterate(ev, v), b.get_or(2, Value::none()), flag(b, 1));
  std::stable_sort(ks.begin(), ks.end(), [reverse](const Keyed& x, const Keyed& y) {
    return reverse ? py_compare(y.key, x.key) < 0 : py_compare(x.key, y.key) < 0;
  });
  std::vector<Value> out;
  for (auto& k : ks) out.push_back(std::move(k.item));
  return Value::list(std::move(out));
}

Value f_unique(Evaluator& ev, const Value& v, CallArgs& args) {
  ArgBinder b("unique", args, {"case_sensitive", "attribute"});
  std::vector<Keyed> ks = keyed(ev, iterate(ev, v), b.get_or(1, Value::none()), flag(b, 0));
  std::vector<Value> seen, out;
  for (auto& k : ks) {
    if (k.key.is_list() || k.key.is_dict()) fail("unhashable type: '" + k.key.type_name() + "'");
    bool dup =
        std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return py_equal(s, k.key); });
    ev.step(static_cast<int64_t>(seen.size()) / 64 + 1);
    if (dup) continue;
    seen.push_back(k.key);
    out.push_back(std::move(k.item));
  }
  return Value::generator(std::move(out));
}

Value f_dictsort(Evaluator& ev, const Value& v, CallArgs& args) {
  ArgBinder b("dictsort", args, {"case_sensitive", "by", "reverse"});
  if (v.is_undefined()) fail(v.undefined_message());
  if (!v.is_dict()) fail("'" + v.type_name() + "' object has no attribute 'items'");
  bool case_sensitive = flag(b, 0);
  std::string by = b.has(1) ? py_str(b.get(1)) : "key";
  if (by != "key" && by != "value") fail("You can only sort by either \"key\" or \"value\"");
  bool reverse = flag(b, 2);
  std::vector<Keyed> ks;
  for (const auto& [k, val] : v.dict().items) {
    Value key = by == "key" ? k : val;
    ks.push_back({case_sensitive ? key : ignore_case(key), Value::tuple({k, val})});
  }
  ev.step(static_cast<int64_t>(ks.size()));
  std::stable_sort(ks.begin(), ks.end(), [reverse](const Keyed& x, const Keyed& y) {
    return reverse ? py_compare(y.key, x.key) < 0 : py_compare(x.key, y.key) < 0;
  });
  std::vector<Value> out;
  for (auto& k : ks) out.push_back(std::move(k.item));
  return Value::list(std::move(out));
}

Value f_items(Evaluator& ev, const Value& v, CallArgs&) {
  if (v.is_undefined()) return Value::generator({});
  if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, val] : v.dict().items) out.push_back(Value::tuple({k, val}));
  ev.step(static_cast<int64_t>(out.size()));
  return Value::generator(std::move(out));
}

Value f_min(Evaluator& ev, const Value& v, CallArgs& args) {
  return min_max(ev, v, args, false);
}
Value f_max(Evaluator& ev, const Value& v, CallArgs& args) {
  return min_max(ev, v, args, true);
}

Value f_sum(Evaluator& ev, const Value& v, CallArgs& args) {
  ArgBinder b("sum", args, {"attribute", "start"});
  std::optional<AttrGetter> get;
  if (b.has(0) && !b.get(0).is_none()) get.emplace(b.get(0), Value::none());
  Value total = b.get_or(1, Value::integer(0));
  for (auto& item : iterate(ev, v))
    total = binary_op(BinOp::kAdd, total, get ? (*get)(ev, item) : item);
  return total;
}

Value f_map(Evaluator& ev, const Value& v, CallArgs& args) {
  if (!v.truthy()) return Value::generator({});  // Jinja: `if value:` before anything else
  std::vector<Value> items = iterate(ev, v);
  std::vector<Value> out;
  out.reserve(items.size());
  bool by_attr =
      args.pos.empty() && std::any_of(args.kw.begin(), args.kw.end(),
                                      [](const auto& kv) { return kv.first == "attribute"; });
  if (by_attr) {
    ArgBinder b("map", args, {"attribute", "default"});
    AttrGetter get(b.get(0), b.get_or(1, Value::none()));
    for (auto& item : items) out.push_back(get(ev, item));
    return Value::generator(std::move(out));
  }
  if (args.pos.empty()) fail("map requires a filter argument");
  std::string name = py_str(args.pos[0]);
  CallArgs rest;
  rest.pos.assign(args.pos.begin() + 1, args.pos.end());
  rest.kw = args.kw;
  for (auto& item : items) {
    CallArgs a = rest;
    out.push_back(ev.apply_filter(name, item, a));
  }
  return Value::generator(std::move(out));
}

Value f_select(Evaluator& ev, const Value& v, CallArgs& args) {
  return select_impl(ev, v, args, false, true);
}
Value f_reject(Evaluator& ev, const Value& v, CallArgs& args) {
  return select_impl(ev, v, args, false, false);
}
Value f_selectattr(Evaluator& ev, const Value& v, CallArgs& args) {
  return select_impl(ev, v, args, true, true);
}
Value f_rejectattr(Evaluator& ev, const Value& v, CallArgs& args) {
  return select_impl(ev, v, args, true, false);
}

Value f_batch(Evaluator& ev, const Value& v, CallArgs& args) {
  ArgBinder b("batch", args, {"linecount", "fill_with"});
  return chunks(ev, v, positive_count(b.get(0), "batch"), b.get_or(1, Value::none()), false);
}

Value f_slice(Evaluator& ev, const Value& v, CallArgs& args) {
  ArgBinder b("slice", args, {"slices", "fill_with"});
  return chunks(ev, v, positive_count(b.get(0), "slice"), b.get_or(1, Value::none()), true);
}

}  // namespace rs::engine::jinja
