// Writes a random REALM model directory for benchmarks (not a test):
// config.json (BERT-base sizes), model.safetensors with embedder.* and
// reader.* keys, and random block embeddings as .npy.
//   make_random_model --out DIR --vocab VOCAB --blocks N
#include <torch/torch.h>

#include <cstdio>
#include <fstream>

#include "common/index/embeddings.h"
#include "common/io/safetensors.h"
#include "common/model/realm_models.h"

int main(int argc, char** argv) {
  std::string out, vocab;
  int64_t blocks = 2067;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i], v = argv[i + 1];
    if (f == "--out") out = v;
    else if (f == "--vocab") vocab = v;
    else if (f == "--blocks") blocks = std::stoll(v);
  }
  if (out.empty() || vocab.empty()) {
    std::fprintf(stderr, "make_random_model: error: --out and --vocab are required\n");
    return 2;
  }
  orqa::RealmConfig c;  // RealmConfig defaults are BERT-base: 12 x 768, proj 128
  c.reader_seq_len = 288;
  c.reader_beam_size = 5;
  std::ofstream(out + "/config.json") << "{\"model_type\": \"realm\", \"hidden_size\": 768, \"num_hidden_layers\": 12, "
                                         "\"num_attention_heads\": 12, \"intermediate_size\": 3072, "
                                         "\"retriever_proj_size\": 128, \"hidden_act\": \"gelu_new\", "
                                         "\"reader_seq_len\": 288, \"reader_beam_size\": 5, \"span_hidden_size\": 256, "
                                         "\"max_span_width\": 10, \"max_position_embeddings\": 512}\n";
  std::ifstream src(vocab, std::ios::binary);
  std::ofstream(out + "/vocab.txt", std::ios::binary) << src.rdbuf();
  torch::manual_seed(0);
  orqa::RealmEmbedder embedder(c);
  orqa::RealmReader reader(c);
  std::vector<torch::Tensor> keep;
  std::map<std::string, orqa::TensorView> tensors;
  auto add = [&](const std::string& prefix, torch::nn::Module& m) {
    for (auto& p : m.named_parameters()) {
      keep.push_back(p.value().detach().contiguous());
      tensors[prefix + p.key()] = *orqa::FromTorch(keep.back());
    }
  };
  add("embedder.", *embedder);
  add("reader.", *reader);
  absl::Status st = orqa::WriteSafetensors(out + "/model.safetensors", tensors);
  if (!st.ok()) {
    std::fprintf(stderr, "make_random_model: error: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  auto emb = torch::randn({blocks, 128}).contiguous();
  orqa::EmbeddingMatrix m{*orqa::FromTorch(emb)};
  st = orqa::WriteEmbeddingsNpy(m, out + "/block_emb.npy");
  if (!st.ok()) {
    std::fprintf(stderr, "make_random_model: error: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  std::printf("wrote random BERT-base REALM model and %lld block embeddings to %s\n", static_cast<long long>(blocks),
              out.c_str());
  return 0;
}
