#include "common/index/bm25_index.h"

#include <xapian.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/index/block_store.h"
#include "common/text/stop_words.h"

namespace orqa {
namespace {

Xapian::SimpleStopper& Stopper() {
  static Xapian::SimpleStopper* s = [] {
    auto* st = new Xapian::SimpleStopper();
    int n = 0;
    const char* const* words = StopWords(&n);
    for (int i = 0; i < n; ++i) st->add(words[i]);
    return st;
  }();
  return *s;
}

void Index(Xapian::TermGenerator& gen, Xapian::Document& doc, const std::string& text) {
  gen.set_document(doc);
  gen.index_text(text);
}

Xapian::TermGenerator MakeGenerator() {
  Xapian::TermGenerator gen;
  gen.set_stopper(&Stopper());
  gen.set_stopper_strategy(Xapian::TermGenerator::STOP_ALL);
  gen.set_stemming_strategy(Xapian::TermGenerator::STEM_NONE);
  return gen;
}

}  // namespace

Bm25Index::~Bm25Index() = default;

absl::Status Bm25Index::Build(const BlockStore& store, const std::string& dir,
                              const std::function<void(int64_t, int64_t)>& progress) {
  try {
    Xapian::WritableDatabase db(dir, Xapian::DB_CREATE_OR_OVERWRITE);
    Xapian::TermGenerator gen = MakeGenerator();
    const int64_t n = store.size();
    for (int64_t i = 0; i < n; ++i) {
      auto title = store.Title(i);
      auto text = store.Text(i);
      if (!title.ok()) return title.status();
      if (!text.ok()) return text.status();
      Xapian::Document doc;
      Index(gen, doc, std::string(*title));
      gen.increase_termpos();
      gen.index_text(std::string(*text));
      db.replace_document(static_cast<Xapian::docid>(i + 1), doc);
      if ((i + 1) % 10000 == 0 || i + 1 == n) {
        db.commit();
        if (progress) progress(i + 1, n);
      }
    }
    db.commit();
    db.close();
  } catch (const Xapian::Error& e) {
    return absl::InternalError(absl::StrCat(dir, ": cannot write the BM25 index: ", e.get_description()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Bm25Index>> Bm25Index::Open(const std::string& dir, const Bm25Options& options) {
  if (!(options.k1 >= 0) || !(options.b >= 0 && options.b <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("BM25: k1 must be >= 0 and b in [0, 1], got k1 ", options.k1,
                                                   " b ", options.b));
  }
  auto idx = std::unique_ptr<Bm25Index>(new Bm25Index());
  try {
    idx->db_ = std::make_unique<Xapian::Database>(dir);
    idx->size_ = static_cast<int64_t>(idx->db_->get_lastdocid());
  } catch (const Xapian::Error& e) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a BM25 index (orqa build-bm25): ", e.get_description()));
  }
  idx->options_ = options;
  idx->dir_ = dir;
  return idx;
}

absl::StatusOr<ScoredIds> Bm25Index::Search(const std::string& query, int k, int64_t begin, int64_t end) const {
  // The question's words become an OR query (no query syntax: a question is not an expression).
  Xapian::TermGenerator gen = MakeGenerator();
  Xapian::Document qdoc;
  Index(gen, qdoc, query);
  std::vector<Xapian::Query> terms;
  for (auto t = qdoc.termlist_begin(); t != qdoc.termlist_end(); ++t) {
    terms.emplace_back(*t, t.get_wdf());
  }
  ScoredIds out;
  if (terms.empty()) return out;
  // Restrict to the shard's id range.
  class InRange : public Xapian::MatchDecider {
   public:
    InRange(int64_t b, int64_t e) : b_(b), e_(e) {}
    bool operator()(const Xapian::Document& doc) const override {
      const int64_t id = static_cast<int64_t>(doc.get_docid()) - 1;
      return id >= b_ && id < e_;
    }

   private:
    int64_t b_, e_;
  };
  const bool whole = begin <= 0 && end >= size_;
  InRange decider(begin, end);
  std::lock_guard<std::mutex> lock(mu_);
  try {
    Xapian::Enquire enquire(*db_);
    enquire.set_query(Xapian::Query(Xapian::Query::OP_OR, terms.begin(), terms.end()));
    enquire.set_weighting_scheme(Xapian::BM25Weight(options_.k1, 0, 1, options_.b, 0.5));
    enquire.set_docid_order(Xapian::Enquire::ASCENDING);  // ties by block id
    Xapian::MSet mset = enquire.get_mset(0, k, nullptr, whole ? nullptr : &decider);
    for (auto m = mset.begin(); m != mset.end(); ++m) {
      out.ids.push_back(static_cast<int64_t>(*m) - 1);
      out.scores.push_back(static_cast<float>(m.get_weight()));
    }
  } catch (const Xapian::Error& e) {
    return absl::InternalError(absl::StrCat(dir_, ": BM25 search failed: ", e.get_description()));
  }
  SortResults(&out);  // float scores: equal weights ordered by id
  return out;
}

}  // namespace orqa
