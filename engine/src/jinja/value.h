// Value: the dynamic value of the Jinja renderer (Python's None, bool, int, float, str, list,
// tuple, dict, generator, Undefined and objects such as namespaces, macros and methods).
// Lists and namespaces are shared by reference, as in Python. A Value and what it points to
// belong to one rendering: only the thread running that render may touch them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rs::engine::jinja {

// A render-time failure (UndefinedError, TypeError, SecurityError...). Thrown inside the
// library only; the API boundary turns it into a Status.
struct RenderError {
  std::string message;
};
[[noreturn]] void fail(std::string message);

enum class Kind : uint8_t {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,
  kTuple,
  kGenerator,  // the result of map/select/...: iterable, no len(), not JSON serializable
  kDict,
  kObject,  // namespace, macro, bound method, loop, builtin function...
};

class Value;
struct List;
struct Dict;
class Object;
struct CallArgs;
class Evaluator;

using ListPtr = std::shared_ptr<List>;
using DictPtr = std::shared_ptr<Dict>;
using ObjectPtr = std::shared_ptr<Object>;
using StrPtr = std::shared_ptr<const std::string>;

class Value {
 public:
  Value() : kind_(Kind::kNone) {}
  static Value undefined(std::string message);  // message used when the value is misused
  static Value none() { return Value(); }
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s, bool markup = false);
  static Value string(StrPtr s, bool markup = false);
  static Value list(ListPtr l);
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  static Value generator(std::vector<Value> items);
  static Value dict(DictPtr d);
  static Value object(ObjectPtr o);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const {
    return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool;
  }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_sequence_like() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_markup() const { return markup_; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }
  double as_double() const;  // int, bool or float
  const std::string& str() const { return *std::get<StrPtr>(ptr_); }
  const StrPtr& str_ptr() const { return std::get<StrPtr>(ptr_); }
  List& list() const { return *std::get<ListPtr>(ptr_); }  // list, tuple or generator
  const ListPtr& list_ptr() const { return std::get<ListPtr>(ptr_); }
  Dict& dict() const { return *std::get<DictPtr>(ptr_); }
  Object& object() const { return *std::get<ObjectPtr>(ptr_); }
  const ObjectPtr& object_ptr() const { return std::get<ObjectPtr>(ptr_); }
  // The message of an Undefined.
  const std::string& undefined_message() const { return *std::get<StrPtr>(ptr_); }

  Value with_markup(bool markup) const;

  bool truthy() const;
  // Python's type name: 'NoneType', 'int', 'str', 'list', 'dict'...
  std::string type_name() const;

 private:
  Kind kind_;
  bool markup_ = false;
  union {
    bool b_;
    int64_t i_ = 0;
    double f_;
  };
  std::variant<std::monostate, StrPtr, ListPtr, DictPtr, ObjectPtr> ptr_;
};

// Containers record how deeply they nest (1 + their deepest element), so that building a
// value nested past kMaxValueDepth fails instead of overflowing the stack when destroyed.
struct List {
  std::vector<Value> items;
  int depth = 1;
};

// An insertion-ordered dict; keys compare with Python equality.
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  int depth = 1;
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);  // replace or append
  void note_child(const Value& v);   // updates depth for an element added to `items`
};

// Call arguments: positional and keyword (in source order).
struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};

// Objects: anything with attributes or a call operator beyond the plain data types.
class Object {
 public:
  virtual ~Object() = default;
  virtual std::string type_name() const = 0;
  virtual std::string repr() const { return "<" + type_name() + " object>"; }
  // nullopt-like: returns false when there is no such attribute.
  virtual bool get_attr(std::string_view name, Value& out) const { return false; }
  virtual bool set_attr(std::string_view name, Value value) { return false; }
  virtual bool callable() const { return false; }
  virtual Value call(Evaluator& ev, CallArgs& args) {
    fail("'" + type_name() + "' object is not callable");
  }
  virtual bool is_namespace() const { return false; }
  virtual const Dict* as_namespace_dict() const { return nullptr; }
  // Drops what the object refers to (end of a rendering: breaks reference cycles).
  virtual void release() {}
};

// Python equality (1 == 1.0 == True; list/tuple element-wise; dict unordered).
bool py_equal(const Value& a, const Value& b, int depth = 0);
// Python ordering for < <= > >=; throws TypeError for unorderable types. Returns <0, 0, >0.
int py_compare(const Value& a, const Value& b, int depth = 0);
// Python's `len`; throws for types without one.
int64_t py_len(const Value& v);
// Items of an iterable (list, tuple, generator: elements; dict: keys; str: characters;
// Undefined: nothing). Throws "'X' object is not iterable" otherwise.
std::vector<Value> py_iterate(const Value& v);

inline constexpr int kMaxDepth = 256;       // nesting of JSON input, repr, equality, recursion
inline constexpr int kMaxValueDepth = 512;  // nesting of any value built while rendering

// How deeply a value nests: 0 for scalars, 1 + the deepest element for containers.
int nesting_of(const Value& v);

}  // namespace rs::engine::jinja
