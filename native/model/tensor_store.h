// Raw tensors as loaded from a checkpoint (or synthesized), keyed by HF name.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qb {

enum class DType { F32, F16, BF16, F8_E4M3, I8, I32, F64 };

DType parse_dtype(const std::string& s);
const char* dtype_name(DType d);
size_t dtype_size(DType d);

struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  int64_t numel() const;
  // Values converted to float (any float or int dtype).
  std::vector<float> to_float() const;
};

class TensorStore {
 public:
  // Reads nbytes at offset from file; checks size against dtype/shape and rejects NaN/Inf (error names tensor+file).
  void load_from_file(const std::string& name, const std::string& file, uint64_t offset, uint64_t nbytes, DType dtype,
                      const std::vector<int64_t>& shape);
  void set(const std::string& name, DType dtype, const std::vector<int64_t>& shape, const uint8_t* data, size_t nbytes);
  void set_float(const std::string& name, const std::vector<int64_t>& shape, std::vector<float> values);
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  const HostTensor& get(const std::string& name) const;
  std::vector<std::string> names() const;
  void clear() { tensors_.clear(); }

 private:
  std::map<std::string, HostTensor> tensors_;
};

// Throws QbError("NAN_IN_WEIGHTS") when a float tensor holds NaN or Inf.
void check_finite(const std::string& name, const std::string& where, const HostTensor& t);

}  // namespace qb
