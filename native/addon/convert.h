// JS <-> C++ conversions for the binding.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

namespace qb::js {

template <typename T, typename Arr>
std::vector<T> vec_of(const Napi::Value& v, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return {};
  if (!v.IsTypedArray()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a typed array");
  Arr a = v.As<Arr>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

template <typename Arr, typename T>
Arr to_typed(Napi::Env env, const std::vector<T>& v) {
  Arr a = Arr::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = v[i];
  return a;
}

inline Napi::Float32Array f32(Napi::Env env, const std::vector<float>& v) {
  return to_typed<Napi::Float32Array>(env, v);
}

inline int geti(const Napi::Object& o, const char* k) {
  Napi::Value v = o.Get(k);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("config.") + k + " must be a number");
  return v.As<Napi::Number>().Int32Value();
}
inline float getf(const Napi::Object& o, const char* k, float def) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().FloatValue() : def;
}

}  // namespace qb::js
