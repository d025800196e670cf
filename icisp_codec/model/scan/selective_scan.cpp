// CPU selective scan (S6) for the cross-scan layout of VMamba's SS2D, forward and backward.
//
// Recurrence per (batch b, channel d in direction group k), with N state dimensions, given the step sizes
// dt = softplus(delta + bias) (computed by the caller in torch, where it vectorises):
//   h_t  = exp(dt_t * A_d) * h_{t-1} + dt_t * B_{k,t} * u_t
//   y_t  = <C_{k,t}, h_t> + D_d * u_t
// Sequential in t with the state in registers and SIMD over N; parallel over (b, d).
// The forward stores the state at the start of every CHUNK steps; the backward recomputes each chunk's
// states from that checkpoint and runs the adjoint recurrence backwards, so memory stays O(L/CHUNK * N)
// per channel instead of the O(L * N) a tensor implementation needs.
//
// Layouts (all contiguous float32): u, dt, y: (Bt, KD, L); A: (KD, N); Bm, Cm: (Bt, K, L, N); D: (KD).
#include <torch/extension.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#if defined(__AVX__)
#include <immintrin.h>
#endif
#include <vector>

namespace {

constexpr int64_t CHUNK = 64;
constexpr int64_t MAX_N = 64;

void check_inputs(const torch::Tensor& u, const torch::Tensor& dt, const torch::Tensor& A,
                  const torch::Tensor& Bm, const torch::Tensor& Cm, const torch::Tensor& D) {
  for (const auto* t : {&u, &dt, &A, &Bm, &Cm, &D}) {
    TORCH_CHECK(t->scalar_type() == torch::kFloat32, "selective_scan: float32 tensors expected");
    TORCH_CHECK(t->is_contiguous(), "selective_scan: contiguous tensors expected");
    TORCH_CHECK(!t->is_cuda(), "selective_scan: CPU tensors expected");
  }
  TORCH_CHECK(A.size(1) <= MAX_N, "selective_scan: d_state must be <= 64");
  TORCH_CHECK(u.size(1) % Bm.size(1) == 0, "selective_scan: channels must split evenly into groups");
}

// Channels per SIMD vector of the fused inference scan (they share B and C): a full vector register, 16
// floats with AVX-512 (scans 1.4-1.7x faster than with 8 on an AMD Zen 5), 8 with AVX2.
#if defined(__AVX512F__)
constexpr int64_t GROUP = 16;
#else
constexpr int64_t GROUP = 8;
#endif

// GROUP channels as one SIMD value (GCC/Clang vector extension): the channels of a group share each step's
// B and C, so the fused scan advances all of them with one vector operation per state and needs no
// horizontal sums; the output of a step is one vector.
typedef float lanes __attribute__((vector_size(GROUP * sizeof(float))));
typedef int32_t int_lanes __attribute__((vector_size(GROUP * sizeof(int32_t))));

inline int32_t truncate(float v) { return static_cast<int32_t>(v); }
inline int_lanes truncate(lanes v) { return __builtin_convertvector(v, int_lanes); }
inline float to_float(int32_t v) { return static_cast<float>(v); }
inline lanes to_float(int_lanes v) { return __builtin_convertvector(v, lanes); }

// The nearest integer to v <= 0, as a float. On one float: a truncating conversion of v - 1/2 and back
// (truncation rounds a negative value up), which the compiler vectorises in loops. On a vector, where AVX
// has it, one rounding instruction instead of the two conversions: it shortens the exp's dependency chain,
// which bounds the fused scan (9-13% of its time on an AVX2 EPYC).
template <typename V>
inline V nearest_integer(V v) { return to_float(truncate(v - 0.5f)); }
#if defined(__AVX512F__)
inline lanes nearest_integer(lanes v) {
  return reinterpret_cast<lanes>(
      _mm512_roundscale_ps(reinterpret_cast<__m512>(v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#elif defined(__AVX__)
inline lanes nearest_integer(lanes v) {
  return reinterpret_cast<lanes>(_mm256_round_ps(reinterpret_cast<__m256>(v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#endif

// exp(x) for x <= 0 (a decay exp(dt * A) with dt > 0, A < 0), on one float or on all lanes of a vector,
// as 2^(x log2 e) = 2^k * 2^f: k the nearest integer, f in [-1/2, 1/2], 2^f a degree-6 polynomial (a
// relative-error minimax fit, 9e-8 relative), 2^k added to the polynomial's exponent bits. Unlike a libm call
// it vectorises inline, in 13-14 vector operations. The result is within 7e-8 of exp(x), and within 2e-7 of
// it relatively where x > -2 (rounding x log2 e costs |x| times float precision, where e^x is small). Below
// -125 / log2 e it returns about 2^-125 instead of a denormal or 0: a decayed state.
template <typename V>
inline V exp_nonpositive(V x) {
  V x2 = x * 1.44269504f;
  x2 = x2 < -125.f ? V{} - 125.f : x2;
  const V k_float = nearest_integer(x2);
  const auto k = truncate(k_float);  // exact: k_float is an integer; off the polynomial's dependency chain
  const V f = x2 - k_float;
  V p = f * 1.499088830e-4f + 1.339308335e-3f;
  p = p * f + 9.619673714e-3f;
  p = p * f + 5.550347269e-2f;
  p = p * f + 2.402263731e-1f;
  p = p * f + 6.931471825e-1f;
  p = p * f + 1.f;
  auto bits = k << 23;
  static_assert(sizeof(bits) == sizeof(p), "exponent bits and value differ in size");
  decltype(bits) p_bits;
  std::memcpy(&p_bits, &p, sizeof(p));
  bits += p_bits;
  std::memcpy(&p, &bits, sizeof(p));
  return p;
}

// decays[t*N + n] = exp(dt[t] * A[n]) for a whole chunk in one flat loop, which the compiler vectorises;
// the backward pass reads each decay twice (recomputing the states, then the adjoint recurrence).
inline void decay_chunk(const float* dt, const float* A, int64_t T, int64_t N, float* decays) {
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t n = 0; n < N; ++n) decays[t * N + n] = dt[t] * A[n];
  }
  for (int64_t i = 0; i < T * N; ++i) decays[i] = exp_nonpositive(decays[i]);
}

}  // namespace

std::vector<torch::Tensor> scan_forward(torch::Tensor u, torch::Tensor dt, torch::Tensor A,
                                        torch::Tensor Bm, torch::Tensor Cm, torch::Tensor D) {
  check_inputs(u, dt, A, Bm, Cm, D);
  const int64_t Bt = u.size(0), KD = u.size(1), L = u.size(2), K = Bm.size(1), N = A.size(1);
  const int64_t Dg = KD / K, n_chunks = (L + CHUNK - 1) / CHUNK;
  auto y = torch::empty_like(u);
  auto checkpoints = torch::empty({Bt, KD, n_chunks, N}, u.options());
  const float *pu = u.data_ptr<float>(), *pdt = dt.data_ptr<float>(), *pA = A.data_ptr<float>();
  const float *pB = Bm.data_ptr<float>(), *pC = Cm.data_ptr<float>(), *pD = D.data_ptr<float>();
  float *py = y.data_ptr<float>(), *pck = checkpoints.data_ptr<float>();

  at::parallel_for(0, Bt * KD, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> states(CHUNK * MAX_N), decays(CHUNK * MAX_N);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / KD, d = task % KD, k = d / Dg;
      const float *uu = pu + task * L, *dd = pdt + task * L, *Ad = pA + d * N;
      const float* Bk = pB + (b * K + k) * L * N;
      const float* Ck = pC + (b * K + k) * L * N;
      float* yy = py + task * L;
      float* ck = pck + task * n_chunks * N;
      float h[MAX_N] = {0.f};
      for (int64_t t0 = 0; t0 < L; t0 += CHUNK) {
        const int64_t T = std::min(CHUNK, L - t0);
        for (int64_t n = 0; n < N; ++n) ck[(t0 / CHUNK) * N + n] = h[n];
        decay_chunk(dd + t0, Ad, T, N, decays.data());
        for (int64_t t = 0; t < T; ++t) {
          const float dtu = dd[t0 + t] * uu[t0 + t];
          const float *a = decays.data() + t * N, *Bt_ = Bk + (t0 + t) * N;
          float* hs = states.data() + t * N;
          for (int64_t n = 0; n < N; ++n) hs[n] = h[n] = a[n] * h[n] + dtu * Bt_[n];
        }
        for (int64_t t = 0; t < T; ++t) {
          const float *hs = states.data() + t * N, *Ct_ = Ck + (t0 + t) * N;
          float acc = 0.f;
          for (int64_t n = 0; n < N; ++n) acc += Ct_[n] * hs[n];
          yy[t0 + t] = acc + pD[d] * uu[t0 + t];
        }
      }
    }
  });
  return {y, checkpoints};
}

std::vector<torch::Tensor> scan_backward(torch::Tensor grad_y, torch::Tensor u, torch::Tensor dt,
                                         torch::Tensor A, torch::Tensor Bm, torch::Tensor Cm,
                                         torch::Tensor D, torch::Tensor checkpoints) {
  check_inputs(u, dt, A, Bm, Cm, D);
  grad_y = grad_y.contiguous();
  const int64_t Bt = u.size(0), KD = u.size(1), L = u.size(2), K = Bm.size(1), N = A.size(1);
  const int64_t Dg = KD / K, n_chunks = (L + CHUNK - 1) / CHUNK;
  auto du = torch::empty_like(u);
  auto ddt = torch::empty_like(dt);
  auto dB = torch::zeros_like(Bm);
  auto dC = torch::zeros_like(Cm);
  // Per-batch partial sums for the parameters shared across the batch; reduced in torch below.
  auto dA_part = torch::zeros({Bt, KD, N}, u.options());
  auto dD_part = torch::zeros({Bt, KD}, u.options());

  const float *pg = grad_y.data_ptr<float>(), *pu = u.data_ptr<float>(), *pdt = dt.data_ptr<float>();
  const float *pA = A.data_ptr<float>(), *pB = Bm.data_ptr<float>(), *pC = Cm.data_ptr<float>();
  const float *pD = D.data_ptr<float>(), *pck = checkpoints.data_ptr<float>();
  float *pdu = du.data_ptr<float>(), *pddt = ddt.data_ptr<float>();
  float *pdB = dB.data_ptr<float>(), *pdC = dC.data_ptr<float>();
  float *pdA = dA_part.data_ptr<float>(), *pdD = dD_part.data_ptr<float>();

  // One task per (batch, direction group): its channels share B and C, so their gradients accumulate
  // without races.
  at::parallel_for(0, Bt * K, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> states(CHUNK * MAX_N), decays(CHUNK * MAX_N);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / K, k = task % K;
      const float* Bk = pB + task * L * N;
      const float* Ck = pC + task * L * N;
      float* dBk = pdB + task * L * N;
      float* dCk = pdC + task * L * N;
      for (int64_t d = k * Dg; d < (k + 1) * Dg; ++d) {
        const int64_t row = b * KD + d;
        const float *uu = pu + row * L, *dd = pdt + row * L, *gy = pg + row * L, *Ad = pA + d * N;
        const float* ck = pck + row * n_chunks * N;
        float *duu = pdu + row * L, *ddd = pddt + row * L, *dAd = pdA + row * N;
        float gh[MAX_N] = {0.f};
        float dD_acc = 0.f;
        for (int64_t c = n_chunks - 1; c >= 0; --c) {
          const int64_t t0 = c * CHUNK, t1 = std::min(L, t0 + CHUNK);
          // Recompute the decays and states of this chunk from its checkpoint.
          decay_chunk(dd + t0, Ad, t1 - t0, N, decays.data());
          const float* prev = ck + c * N;
          for (int64_t t = t0; t < t1; ++t) {
            const float dtu = dd[t] * uu[t];
            float* hs = states.data() + (t - t0) * N;
            const float* as = decays.data() + (t - t0) * N;
            for (int64_t n = 0; n < N; ++n) hs[n] = as[n] * prev[n] + dtu * Bk[t * N + n];
            prev = hs;
          }
          // Adjoint recurrence, newest step first; gh holds dLoss/dh_t.
          for (int64_t t = t1 - 1; t >= t0; --t) {
            const float g = gy[t], ut = uu[t], step = dd[t];
            const float* hs = states.data() + (t - t0) * N;
            const float* as = decays.data() + (t - t0) * N;
            const float* hprev = t > t0 ? hs - N : ck + c * N;
            const float *Bt_ = Bk + t * N, *Ct_ = Ck + t * N;
            float *dBt = dBk + t * N, *dCt = dCk + t * N;
            dD_acc += g * ut;
            float du_t = g * pD[d];
            float dstep = 0.f;
            for (int64_t n = 0; n < N; ++n) {
              dCt[n] += g * hs[n];
              const float ghn = gh[n] + g * Ct_[n];
              const float da = ghn * hprev[n] * as[n];
              dstep += da * Ad[n] + ghn * Bt_[n] * ut;
              dAd[n] += da * step;
              dBt[n] += ghn * step * ut;
              du_t += ghn * step * Bt_[n];
              gh[n] = as[n] * ghn;
            }
            ddd[t] = dstep;
            duu[t] = du_t;
          }
        }
        pdD[row] = dD_acc;
      }
    }
  });
  return {du, ddt, dA_part.sum(0), dB, dC, dD_part.sum(0)};
}

// Inference-only SS2D: the four scans of VMamba's cross-scan in one call, with the step sizes computed in
// place from the low-rank projection, no per-direction copies of the input or of B and C, and no
// checkpoints for a backward pass.
//
// Everything is channels-last, as the layers around the scan work. The data come in two orders: rows
// (raster) and columns (the transposed image). Directions 0 and 1 scan rows and columns forwards,
// directions 2 and 3 the same backwards; every direction reads its order sequentially. Per order o
// (contiguous float32): x_o: (Bt, L, Dm), the input in that order; proj_o: (Bt, 2, L, P), [:, j] the
// projection of direction k = o + 2j: its R low-rank step inputs, then B (N), then C (N).
// dt_weight: (K, Dm, R); A: (K*Dm, N); D, bias: (K*Dm).
// Returns y_o: (Bt, L, Dm) for each order: the sum of its two directions, in its own order.
namespace {

constexpr int64_t FUSED_CHUNK = 32;  // steps per chunk: a run's step sizes and inputs stay in L1
constexpr int64_t MAX_RANK = 64;     // the step sizes' low rank: ceil(d_model / 16)
constexpr int64_t MAX_GROUPS_PER_TASK = 32 / GROUP;  // channels per task: at most 32 (two cache lines of input)

inline lanes load_lanes(const float* p) {
  lanes v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// softplus(v) = max(v, 0) + log1p(exp(-|v|)), with log1p(e) = 2 atanh(e / (2 + e)) summed as its odd series:
// e is in (0, 1], so the series' argument is at most 1/3 and seven terms reach float precision. Unlike
// log1pf this vectorises; it equals torch's softplus (threshold 20) to float rounding.
inline float softplus(float v) {
  const float e = exp_nonpositive(-std::fabs(v));
  const float s = e / (2.f + e), s2 = s * s;
  const float series =
      2.f + s2 * (2.f / 3 + s2 * (2.f / 5 + s2 * (2.f / 7 + s2 * (2.f / 9 + s2 * (2.f / 11 + s2 * (2.f / 13))))));
  return std::max(v, 0.f) + s * series;
}

struct FusedArgs {
  const float *x[2], *proj[2], *w, *A, *D, *bias;
  float* y[2];
  int64_t Dm, L, N, P, R;
};

// The parameters of one group of GROUP channels in one direction, spread over lanes, and its state.
struct GroupParams {
  std::vector<float> A, W, bias, D;  // [state][lane], [rank][lane], [lane], [lane]
  std::vector<lanes> h;              // [state]
  GroupParams() : A(MAX_N * GROUP), W(MAX_RANK * GROUP), bias(GROUP), D(GROUP), h(MAX_N) {}
};

// Per-thread scratch, laid out [step][lane].
struct FusedScratch {
  std::vector<float> dts, us;
  std::vector<GroupParams> groups;
  FusedScratch()
      : dts(FUSED_CHUNK * GROUP), us(FUSED_CHUNK * GROUP, 0.f),
        groups(MAX_GROUPS_PER_TASK) {}
};

// One (order, batch, run of channels [d_begin, d_end)): its two directions in turn. The run is split into
// groups of GROUP channels that share each step's B and C and advance together, one SIMD vector per state;
// chunk by chunk, every group of the run reads the same projection rows and input/output cache lines, so
// they come from memory once per run rather than once per group. A group smaller than GROUP (the last one
// when GROUP does not divide the channels) repeats its last channel in the spare lanes and writes only its
// own. NS: the state size as a compile-time constant (16 in every configuration), 0 for any other.
template <int64_t NS>
void ss2d_run(const FusedArgs& a, int64_t order, int64_t b, int64_t d_begin, int64_t d_end, FusedScratch& m) {
  const int64_t N = NS ? NS : a.N, L = a.L, P = a.P, R = a.R, Dm = a.Dm, K = 4;
  const int64_t n_groups = (d_end - d_begin + GROUP - 1) / GROUP;
  for (int64_t k = order; k < K; k += 2) {
    for (int64_t j = 0; j < n_groups; ++j) {
      GroupParams& gp = m.groups[j];
      const int64_t first = d_begin + j * GROUP, G = std::min(GROUP, d_end - first);
      for (int64_t g = 0; g < GROUP; ++g) {
        const int64_t kd = k * Dm + first + std::min(g, G - 1);
        for (int64_t n = 0; n < N; ++n) gp.A[n * GROUP + g] = a.A[kd * N + n];
        for (int64_t r = 0; r < R; ++r) gp.W[r * GROUP + g] = a.w[kd * R + r];
        gp.bias[g] = a.bias[kd];
        gp.D[g] = a.D[kd];
      }
      std::fill(gp.h.begin(), gp.h.end(), lanes{});
    }
    const float* rows = a.proj[order] + (b * 2 + k / 2) * L * P;
    const bool backwards = k >= 2;
    for (int64_t t0 = 0; t0 < L; t0 += FUSED_CHUNK) {
      const int64_t T = std::min(FUSED_CHUNK, L - t0);
      auto at = [&](int64_t t) { return backwards ? L - 1 - (t0 + t) : t0 + t; };
      for (int64_t j = 0; j < n_groups; ++j) {
        GroupParams& gp = m.groups[j];
        const int64_t first = d_begin + j * GROUP, G = std::min(GROUP, d_end - first);
        const float* x = a.x[order] + b * L * Dm + first;
        float* y = a.y[order] + b * L * Dm + first;
        // step sizes: softplus(bias + dt_weight . the step's low-rank inputs), per lane
        const lanes bias = load_lanes(gp.bias.data()), D = load_lanes(gp.D.data());
        for (int64_t t = 0; t < T; ++t) {
          const float* row = rows + at(t) * P;
          lanes v = bias;
          for (int64_t r = 0; r < R; ++r) v += row[r] * load_lanes(gp.W.data() + r * GROUP);
          std::memcpy(m.dts.data() + t * GROUP, &v, sizeof(v));
        }
        for (int64_t i = 0; i < T * GROUP; ++i) m.dts[i] = softplus(m.dts[i]);
        for (int64_t t = 0; t < T; ++t) {
          if (G == GROUP) {  // a constant size: one vector move, where a variable one is a library call
            std::memcpy(m.us.data() + t * GROUP, x + at(t) * Dm, sizeof(lanes));
          } else {
            std::memcpy(m.us.data() + t * GROUP, x + at(t) * Dm, G * sizeof(float));
          }
        }
        // the recurrence, all lanes at once
        for (int64_t t = 0; t < T; ++t) {
          const float *Bp = rows + at(t) * P + R, *Cp = Bp + N;
          const lanes dt = load_lanes(m.dts.data() + t * GROUP), u = load_lanes(m.us.data() + t * GROUP);
          const lanes dtu = dt * u;
          lanes acc = D * u;
#pragma GCC unroll 16
          for (int64_t n = 0; n < N; ++n) {
            // the decay inline: its exp does not depend on the state, so it overlaps the recurrence's chain
            const lanes decay = exp_nonpositive(dt * load_lanes(gp.A.data() + n * GROUP));
            const lanes h = decay * gp.h[n] + dtu * Bp[n];
            gp.h[n] = h;
            acc += Cp[n] * h;
          }
          float* out = y + at(t) * Dm;
          if (!backwards && G == GROUP) {  // the order's first direction writes, its second adds
            std::memcpy(out, &acc, sizeof(acc));
          } else if (!backwards) {
            std::memcpy(out, &acc, G * sizeof(float));
          } else if (G == GROUP) {
            const lanes sum = load_lanes(out) + acc;
            std::memcpy(out, &sum, sizeof(sum));
          } else {
            for (int64_t g = 0; g < G; ++g) out[g] += acc[g];
          }
        }
      }
    }
  }
}

}  // namespace

std::vector<torch::Tensor> ss2d_forward(torch::Tensor x_rows, torch::Tensor x_cols, torch::Tensor proj_rows,
                                        torch::Tensor proj_cols, torch::Tensor dt_weight, torch::Tensor A,
                                        torch::Tensor D, torch::Tensor bias) {
  for (const auto* t : {&x_rows, &x_cols, &proj_rows, &proj_cols, &dt_weight, &A, &D, &bias}) {
    TORCH_CHECK(t->scalar_type() == torch::kFloat32 && t->is_contiguous() && !t->is_cuda(),
                "ss2d_forward: contiguous float32 CPU tensors expected");
  }
  const int64_t Bt = x_rows.size(0), L = x_rows.size(1), Dm = x_rows.size(2), K = 4, N = A.size(1);
  const int64_t R = dt_weight.size(2), P = R + 2 * N;
  TORCH_CHECK(x_cols.sizes() == x_rows.sizes() && proj_rows.size(0) == Bt && proj_rows.size(1) == 2 &&
                  proj_rows.size(2) == L && proj_rows.size(3) == P && proj_cols.sizes() == proj_rows.sizes() &&
                  N <= MAX_N && R <= MAX_RANK && dt_weight.size(0) == K && dt_weight.size(1) == Dm &&
                  A.size(0) == K * Dm,
              "ss2d_forward: inconsistent shapes");
  auto y_rows = torch::empty_like(x_rows), y_cols = torch::empty_like(x_cols);
  const FusedArgs args{{x_rows.data_ptr<float>(), x_cols.data_ptr<float>()},
                       {proj_rows.data_ptr<float>(), proj_cols.data_ptr<float>()},
                       dt_weight.data_ptr<float>(), A.data_ptr<float>(), D.data_ptr<float>(), bias.data_ptr<float>(),
                       {y_rows.data_ptr<float>(), y_cols.data_ptr<float>()}, Dm, L, N, P, R};
  // Runs as long as possible (memory traffic falls with their length) while every thread still gets two
  // tasks or more.
  const int64_t groups = (Dm + GROUP - 1) / GROUP;
  int64_t per_task = MAX_GROUPS_PER_TASK;
  while (per_task > 1 && 2 * Bt * ((groups + per_task - 1) / per_task) < 2 * at::get_num_threads()) per_task /= 2;
  const int64_t runs = (groups + per_task - 1) / per_task;
  at::parallel_for(0, 2 * Bt * runs, 1, [&](int64_t begin, int64_t end) {
    FusedScratch scratch;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t order = task / (Bt * runs), b = (task / runs) % Bt, run = task % runs;
      const int64_t d_begin = run * per_task * GROUP, d_end = std::min(Dm, d_begin + per_task * GROUP);
      if (N == 16) {
        ss2d_run<16>(args, order, b, d_begin, d_end, scratch);
      } else {
        ss2d_run<0>(args, order, b, d_begin, d_end, scratch);
      }
    }
  });
  return {y_rows, y_cols};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("ss2d_forward", &ss2d_forward, "SS2D inference: four directional scans, fused (CPU)");
  m.def("forward", &scan_forward, "selective scan forward (CPU)");
  m.def("backward", &scan_backward, "selective scan backward (CPU)");
}
