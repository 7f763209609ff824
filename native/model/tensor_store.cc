#include "model/tensor_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "common/numerics.h"
#include "model/config.h"

namespace qb {

DType parse_dtype(const std::string& s) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  if (s == "F8_E4M3") return DType::F8_E4M3;
  if (s == "I8") return DType::I8;
  if (s == "I32") return DType::I32;
  if (s == "F64") return DType::F64;
  throw QbError("BAD_DTYPE", "unsupported tensor dtype '" + s + "' (supported: F32, F16, BF16, F8_E4M3, I8, I32, F64)");
}
const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::I8: return "I8";
    case DType::I32: return "I32";
    case DType::F64: return "F64";
  }
  return "?";
}
size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: return 2;
    case DType::F8_E4M3: case DType::I8: return 1;
    case DType::F64: return 8;
  }
  return 0;
}

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<float> HostTensor::to_float() const {
  int64_t n = numel();
  std::vector<float> out((size_t)n);
  const uint8_t* p = bytes.data();
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::F32: { float f; std::memcpy(&f, p + 4 * i, 4); out[i] = f; break; }
      case DType::F64: { double f; std::memcpy(&f, p + 8 * i, 8); out[i] = (float)f; break; }
      case DType::F16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); out[i] = f16_bits_to_f32(h); break; }
      case DType::BF16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); out[i] = bf16_bits_to_f32(h); break; }
      case DType::F8_E4M3: out[i] = fp8e4m3_to_f32(p[i]); break;
      case DType::I8: out[i] = (float)(int8_t)p[i]; break;
      case DType::I32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); out[i] = (float)v; break; }
    }
  }
  return out;
}

void check_finite(const std::string& name, const std::string& where, const HostTensor& t) {
  if (t.dtype == DType::I8 || t.dtype == DType::I32) return;
  if (t.dtype == DType::F8_E4M3) {
    for (size_t i = 0; i < t.bytes.size(); ++i)
      if ((t.bytes[i] & 0x7f) == 0x7f)
        throw QbError("NAN_IN_WEIGHTS", "tensor '" + name + "'" + where + " holds NaN at element " + std::to_string(i) +
                                            ": the checkpoint is corrupt; re-export it");
    return;
  }
  auto v = t.to_float();
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw QbError("NAN_IN_WEIGHTS", "tensor '" + name + "'" + where + " holds " + (std::isnan(v[i]) ? "NaN" : "Inf") +
                                          " at element " + std::to_string(i) + ": the checkpoint is corrupt; re-export it");
}

void TensorStore::load_from_file(const std::string& name, const std::string& file, uint64_t offset, uint64_t nbytes,
                                 DType dtype, const std::vector<int64_t>& shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = shape;
  if ((uint64_t)t.numel() * dtype_size(dtype) != nbytes)
    throw QbError("DTYPE_SHAPE", "tensor '" + name + "' in " + file + ": " + std::to_string(nbytes) +
                                     " bytes do not match dtype " + dtype_name(dtype) + " and its shape");
  t.bytes.resize(nbytes);
  int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) throw QbError("MISSING_SHARD", "cannot open " + file + " for tensor '" + name + "': " + std::strerror(errno));
  uint64_t done = 0;
  while (done < nbytes) {
    ssize_t r = ::pread(fd, t.bytes.data() + done, nbytes - done, (off_t)(offset + done));
    if (r <= 0) {
      ::close(fd);
      throw QbError("TRUNCATED", "tensor '" + name + "' in " + file + ": file ends before the tensor's data (read " +
                                     std::to_string(done) + " of " + std::to_string(nbytes) + " bytes)");
    }
    done += (uint64_t)r;
  }
  ::close(fd);
  check_finite(name, " in " + file, t);
  tensors_[name] = std::move(t);
}

void TensorStore::set(const std::string& name, DType dtype, const std::vector<int64_t>& shape, const uint8_t* data,
                      size_t nbytes) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = shape;
  if ((size_t)t.numel() * dtype_size(dtype) != nbytes)
    throw QbError("DTYPE_SHAPE", "tensor '" + name + "': " + std::to_string(nbytes) + " bytes do not match dtype " +
                                     dtype_name(dtype) + " and its shape");
  t.bytes.assign(data, data + nbytes);
  check_finite(name, "", t);
  tensors_[name] = std::move(t);
}

void TensorStore::set_float(const std::string& name, const std::vector<int64_t>& shape, std::vector<float> values) {
  HostTensor t;
  t.dtype = DType::F32;
  t.shape = shape;
  t.bytes.resize(values.size() * 4);
  std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  tensors_[name] = std::move(t);
}

const HostTensor& TensorStore::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    throw QbError("MISSING_TENSOR", "tensor '" + name + "' is missing from the checkpoint");
  return it->second;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  for (auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

}  // namespace qb
